"""SLPF rules in nftables, in the orchestrator's own table (infrastructure/nftables.py), which this extends.

Two kinds of effect:
- A rule on one address, both directions, plain drop: an element of a set with a kernel timeout. deny uses the
  table's block4/block6 (so the orchestrator's own chains drop it); allow uses allow4/allow6, added here with accept
  rules inserted at the head of input, forward and output.
- Anything else (a range, a 5-tuple, one direction, reject): nftables rules in those chains, commented
  "xorb-slpf rule N" and deleted by handle. allow rules are inserted at the head of the chains, deny rules appended.

So within the table an allow always wins over a deny, whatever their order. nftables accept ends only this table's
chain: other tables (the distribution's own firewall) still see the packet, so an allow never opens what they close.
Ranges are rules rather than elements because an interval set refuses a range overlapping one already in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from xorb_orchestrator.actuator.commands import RuleCommand
from xorb_orchestrator.actuator.targets import ConnectionTarget, NetTarget
from xorb_orchestrator.infrastructure.nftables import NftError, NftFirewall

TAG = "xorb-slpf rule "
ALLOW_TAG = "xorb-slpf allow"
BLOCK_SETS = {4: "block4", 6: "block6"}
ALLOW_SETS = {4: "allow4", 6: "allow6"}
CHAINS = ("input", "forward", "output")
# Which chains see a direction's packets, and which address of a range they are matched on there: ingress is
# traffic from the range (arriving, or passing through), egress traffic to it.
NET_MATCHES = {
    "both": [("input", "saddr"), ("forward", "saddr"), ("forward", "daddr"), ("output", "daddr")],
    "ingress": [("input", "saddr"), ("forward", "saddr")],
    "egress": [("forward", "daddr"), ("output", "daddr")],
}
CONNECTION_CHAINS = {"both": CHAINS, "ingress": ("input", "forward"), "egress": ("forward", "output")}
REJECT = "reject with icmpx type host-unreachable"


@dataclass(frozen=True)
class Element:
    """A set element: the set's name and the address."""

    set: str
    value: str


def element_of(command: RuleCommand) -> Element | None:
    """The set element that carries `command`, or None when it takes rules."""
    target = command.target
    if not isinstance(target, NetTarget) or not target.single_address:
        return None
    if command.direction != "both" or command.drop_process != "none":
        return None
    sets = ALLOW_SETS if command.action == "allow" else BLOCK_SETS
    return Element(sets[target.version], target.text)


def statements(command: RuleCommand) -> list[tuple[str, str]]:
    """(chain, rule text without its comment) for a command that takes rules."""
    verdict = "accept" if command.action == "allow" else REJECT if command.drop_process == "reject" else "drop"
    target = command.target
    family = "ip" if target.version == 4 else "ip6"
    if isinstance(target, NetTarget):
        matches = NET_MATCHES[command.direction]
        return [(chain, f"{family} {field} {target.network} {verdict}") for chain, field in matches]
    match = " ".join(_connection_matches(target, family))
    return [(chain, f"{match} {verdict}") for chain in CONNECTION_CHAINS[command.direction]]


def _connection_matches(target: ConnectionTarget, family: str) -> list[str]:
    matches = [f"meta nfproto ipv{target.version}"]
    if target.src_addr:
        matches.append(f"{family} saddr {target.src_addr}")
    if target.dst_addr:
        matches.append(f"{family} daddr {target.dst_addr}")
    ports = target.src_port is not None or target.dst_port is not None
    if target.protocol == "icmp":
        matches.append("meta l4proto " + ("icmp" if target.version == 4 else "ipv6-icmp"))
    elif target.protocol:
        matches.append(f"meta l4proto {target.protocol}")
    elif ports:  # a port with no protocol: any protocol that has ports
        matches.append("meta l4proto { tcp, udp, sctp }")
    if target.src_port is not None:
        matches.append(f"th sport {target.src_port}")
    if target.dst_port is not None:
        matches.append(f"th dport {target.dst_port}")
    return matches


@dataclass(frozen=True)
class TaggedRule:
    chain: str
    handle: int
    comment: str


class SlpfFirewall(NftFirewall):
    """The orchestrator's table, with the allow sets and the SLPF rules this module adds to it."""

    async def ensure_slpf(self) -> None:
        """The table (infrastructure/nftables.py), plus allow4/allow6 and their accept rules when missing."""
        await self.ensure()
        listing = await self._listing()
        sets = {item["set"]["name"] for item in listing if "set" in item}
        tagged = {item["rule"]["chain"] for item in listing if item.get("rule", {}).get("comment") == ALLOW_TAG}
        script = [
            f"add set inet {self.table} {name} {{ type ipv{version}_addr; flags timeout; }}"
            for version, name in ALLOW_SETS.items()
            if name not in sets
        ]
        matches = {"input": ["saddr"], "forward": ["saddr", "daddr"], "output": ["daddr"]}
        for chain in CHAINS:
            if chain in tagged:
                continue
            for field in matches[chain]:
                for family, name in (("ip", "allow4"), ("ip6", "allow6")):
                    script.append(
                        f'insert rule inet {self.table} {chain} {family} {field} @{name} accept comment "{ALLOW_TAG}"'
                    )
        if script:
            await self._nft(script="\n".join(script) + "\n")

    async def put_rules(self, number: int, command: RuleCommand) -> None:
        """Replace rule `number`'s nftables rules by `command`'s, in one transaction."""
        script = self._deletions(await self.tagged_rules(number))
        verb = "insert" if command.action == "allow" else "add"
        for chain, text in statements(command):
            script.append(f'{verb} rule inet {self.table} {chain} {text} comment "{TAG}{number}"')
        await self._nft(script="\n".join(script) + "\n")

    async def delete_rules(self, number: int) -> int:
        """Delete rule `number`'s nftables rules; how many there were."""
        found = await self.tagged_rules(number)
        if found:
            await self._nft(script="\n".join(self._deletions(found)) + "\n")
        return len(found)

    async def tagged_rules(self, number: int | None = None) -> list[TaggedRule]:
        """The SLPF rules in the chains (rule `number`'s only, if given)."""
        found = []
        for item in await self._listing():
            rule = item.get("rule", {})
            comment = str(rule.get("comment", ""))
            if comment.startswith(TAG) and (number is None or comment == f"{TAG}{number}"):
                found.append(TaggedRule(rule["chain"], int(rule["handle"]), comment))
        return found

    async def put_element(self, element: Element, timeout: timedelta | None) -> None:
        """Add `element` (for `timeout`), its expiry set afresh even when it is there already."""
        if element.set in BLOCK_SETS.values():
            await self.block(element.value, timeout)
            return
        spec = f"{element.value} timeout {max(1, int(timeout.total_seconds()))}s" if timeout else element.value
        where = f"inet {self.table} {element.set}"
        # add, delete, add: nftables keeps an element's old expiry when it is added again.
        await self._nft(
            script=f"add element {where} {{ {element.value} }}\ndelete element {where} {{ {element.value} }}\n"
            f"add element {where} {{ {spec} }}\n"
        )

    async def drop_element(self, element: Element) -> None:
        if element.set in BLOCK_SETS.values():
            await self.unblock(element.value)
            return
        if element.value not in await self.allowed():
            return
        try:
            await self._nft(script=f"delete element inet {self.table} {element.set} {{ {element.value} }}\n")
        except NftError as exc:
            if "No such file or directory" not in str(exc):  # else it expired between the read and the delete
                raise

    async def allowed(self) -> list[str]:
        """The addresses in allow4 and allow6."""
        found = []
        for name in ALLOW_SETS.values():
            data = json.loads(await self._nft("-j", "list", "set", "inet", self.table, name))
            for item in data.get("nftables", []):
                for elem in item.get("set", {}).get("elem", []):
                    found.append(str(elem["elem"]["val"] if isinstance(elem, dict) and "elem" in elem else elem))
        return found

    async def _listing(self) -> list[dict[str, Any]]:
        data = json.loads(await self._nft("-j", "-a", "list", "table", "inet", self.table))
        return [item for item in data.get("nftables", []) if isinstance(item, dict)]

    def _deletions(self, rules: list[TaggedRule]) -> list[str]:
        return [f"delete rule inet {self.table} {rule.chain} handle {rule.handle}" for rule in rules]
