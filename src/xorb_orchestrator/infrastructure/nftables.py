"""The orchestrator's own nftables table: block and unblock addresses with timeouts, read them back.

One table (`inet xorb` by default) holds four sets with timeouts — single addresses in `block4`/`block6`, networks
in `net4`/`net6` (interval sets refuse an address inside a network already there, so the two kinds live apart) —
and three base chains at priority -10 (before a distribution's own filter) dropping traffic from and to them:
input, forward and output. Nothing outside the table is touched.

Blocking is one atomic transaction of add, delete, add: nftables keeps an element's old expiry when it is added
again, so a re-block would otherwise not refresh it. `nft` runs as a subprocess (its JSON output is read back), in
a network namespace when one is named (`ip netns exec`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import shutil
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

MAX_TIMEOUT = timedelta(days=365)
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
_NETNS = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
COMMAND_TIMEOUT_SECONDS = 10.0


class NftError(Exception):
    """nft failed; the message is its own (one line), or why it could not run."""


class NftUnavailable(NftError):
    """There is no `nft` here (or no such network namespace): nothing can be blocked on this host."""


@dataclass(frozen=True)
class Element:
    """One blocked address or network: its set, and (when timed) its timeout and the seconds left."""

    value: str
    set: str
    timeout_seconds: int | None
    expires_seconds: int | None


def canonical_target(text: str) -> tuple[str, str]:
    """(set name, canonical value) of an address or network; ValueError naming what is wrong."""
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text[:80]!r} is not an IP address or network") from None
    if network.num_addresses == 1:
        return ("block4" if network.version == 4 else "block6"), str(network.network_address)
    return ("net4" if network.version == 4 else "net6"), str(network)


class NftFirewall:
    def __init__(self, table: str = "xorb", netns: str | None = None) -> None:
        if not _TABLE_NAME.match(table):
            raise ValueError(f"table: {table[:40]!r} is not an nftables table name")
        if netns is not None and not _NETNS.match(netns):
            raise ValueError(f"netns: {netns[:70]!r} is not a network namespace name")
        self.table = table
        self.netns = netns

    @property
    def where(self) -> str:
        return f"inet {self.table}" + (f" in network namespace {self.netns}" if self.netns else "")

    async def _nft(self, *args: str, script: str | None = None) -> str:
        command = ["nft", *args] if script is None else ["nft", "-f", "-"]
        if self.netns is not None:
            command = ["ip", "netns", "exec", self.netns, *command]
        if shutil.which(command[0]) is None:
            raise NftUnavailable(f"{command[0]} is not installed here: install nftables (and iproute2)")
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(
                process.communicate(script.encode() if script is not None else None), COMMAND_TIMEOUT_SECONDS
            )
        except TimeoutError:
            process.kill()
            raise NftError(f"nft did not answer within {COMMAND_TIMEOUT_SECONDS:g}s") from None
        if process.returncode != 0:
            message = " ".join(err.decode(errors="replace").split())[:500] or f"exit status {process.returncode}"
            if self.netns is not None and "Cannot open network namespace" in message:
                raise NftUnavailable(f"no network namespace {self.netns}: {message}")
            raise NftError(message)
        return out.decode(errors="replace")

    async def exists(self) -> bool:
        try:
            await self._nft("list", "table", "inet", self.table)
        except NftUnavailable:
            raise
        except NftError:
            return False
        return True

    async def ensure(self) -> None:
        """Create the table, its sets and chains when they are not there (never twice: rules would repeat)."""
        if await self.exists():
            return
        rules = {
            "input": "ip saddr @V4 drop; ip6 saddr @V6 drop",
            "forward": "ip saddr @V4 drop; ip daddr @V4 drop; ip6 saddr @V6 drop; ip6 daddr @V6 drop",
            "output": "ip daddr @V4 drop; ip6 daddr @V6 drop",
        }
        chains = []
        for hook, template in rules.items():
            body = "; ".join(
                template.replace("V4", four).replace("V6", six)
                for four, six in (("block4", "block6"), ("net4", "net6"))
            )
            chains.append(f"  chain {hook} {{ type filter hook {hook} priority -10; policy accept; {body}; }}")
        sets = [
            "  set block4 { type ipv4_addr; flags timeout; }",
            "  set block6 { type ipv6_addr; flags timeout; }",
            "  set net4 { type ipv4_addr; flags interval, timeout; }",
            "  set net6 { type ipv6_addr; flags interval, timeout; }",
        ]
        await self._nft(script="\n".join([f"table inet {self.table} {{", *sets, *chains, "}", ""]))

    async def block(self, target: str, timeout: timedelta | None) -> Element:
        """Block `target` (for `timeout`, else until unblocked): add, delete, add in one transaction, so the
        expiry is set afresh even when it was blocked already. Returns the element as nftables now holds it."""
        set_name, value = canonical_target(target)
        if timeout is not None and not timedelta(seconds=1) <= timeout <= MAX_TIMEOUT:
            raise ValueError("timeout: between 1 second and 365 days")
        await self.ensure()
        spec = f"{value} timeout {int(timeout.total_seconds())}s" if timeout is not None else value
        element = f"inet {self.table} {set_name} {{ {value} }}"
        fresh = f"inet {self.table} {set_name} {{ {spec} }}"
        await self._nft(script=f"add element {element}\ndelete element {element}\nadd element {fresh}\n")
        found = await self.lookup(value)
        if found is None:
            raise NftError(f"{value} was added to {set_name} but is not there when read back")
        return found

    async def unblock(self, target: str) -> bool:
        """Remove `target`; False when it was not blocked (already undone, or expired)."""
        set_name, value = canonical_target(target)
        if not await self.exists() or await self.lookup(value) is None:
            return False
        try:
            await self._nft(script=f"delete element inet {self.table} {set_name} {{ {value} }}\n")
        except NftError as exc:
            if "No such file or directory" in str(exc):  # expired between the read and the delete
                return False
            raise
        return True

    async def lookup(self, target: str) -> Element | None:
        """The element for exactly this address or network, or None."""
        set_name, value = canonical_target(target)
        return next((e for e in await self.elements(set_name) if e.value == value), None)

    async def elements(self, set_name: str | None = None) -> list[Element]:
        """Everything blocked (in one set, or both)."""
        if not await self.exists():
            return []
        found: list[Element] = []
        for name in (set_name,) if set_name else ("block4", "block6", "net4", "net6"):
            data = json.loads(await self._nft("-j", "list", "set", "inet", self.table, name))
            for item in data.get("nftables", []):
                for elem in item.get("set", {}).get("elem", []):
                    found.append(_element(name, elem))
        return found


def _element(set_name: str, raw: Any) -> Element:
    """An element of `nft -j`: a bare value, {"prefix": ...}, or {"elem": {"val": ..., "timeout", "expires"}}."""
    timeout = expires = None
    if isinstance(raw, dict) and "elem" in raw:
        timeout, expires = raw["elem"].get("timeout"), raw["elem"].get("expires")
        raw = raw["elem"]["val"]
    if isinstance(raw, dict) and "prefix" in raw:
        raw = f"{raw['prefix']['addr']}/{raw['prefix']['len']}"
    return Element(value=str(raw), set=set_name, timeout_seconds=timeout, expires_seconds=expires)
