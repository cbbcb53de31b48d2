"""nftables: block and unblock addresses and networks on a Linux host the orchestrator runs on (or one of its
network namespaces), in the orchestrator's own table (infrastructure/nftables.py).

- `nftables.block` {address, duration?}: blocks in and out; a duration makes nftables drop the element itself
  when it ends. A repeat (a retry, a crashed worker's step run again) finds the element in place and returns its
  receipt instead of blocking again; a longer duration than the one in place refreshes the expiry. Verified by
  reading the set back.
- `nftables.unblock` {address}: the undo; unblocking what is not blocked (expired, undone) succeeds, saying so.
- `nftables.list`: what is blocked, read-only.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xorb_orchestrator.connectors.base import (
    CallContext,
    ConnectorAction,
    ConnectorArgs,
    ConnectorRejected,
    ConnectorType,
    ConnectorUnavailable,
    Outcome,
)
from xorb_orchestrator.connectors.connections import Connection
from xorb_orchestrator.infrastructure.nftables import Element, NftError, NftFirewall, NftUnavailable, canonical_target
from xorb_orchestrator.models.receipt import Receipt, UndoCall, Verification
from xorb_orchestrator.playbook.actions import ActionSpec
from xorb_orchestrator.playbook.durations import Duration, format_duration

TOOL = "nftables"
T = TypeVar("T")
# A repeat (a retried step, seconds later) finds the block in place when at least the duration asked, less this
# much (at most a tenth of it), is left; a block with less time left is refreshed.
REPEAT_SLACK = timedelta(seconds=30)


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field("xorb", description="The orchestrator's own table (family inet); nothing else is touched.")
    netns: str | None = Field(None, description="A network namespace to act in (`ip netns exec`); default: the host's.")


class BlockArgs(ConnectorArgs):
    address: str = Field(max_length=64, description="An IPv4/IPv6 address or network (CIDR).")
    duration: Duration | None = Field(None, description="How long the block lasts (e.g. 24h); none: until unblocked.")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return canonical_target(value)[1]


class UnblockArgs(ConnectorArgs):
    address: str = Field(max_length=64, description="The address or network blocked.")

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return canonical_target(value)[1]


class ListArgs(ConnectorArgs):
    pass


def firewall(connection: Connection) -> NftFirewall:
    options = Options.model_validate(connection.options)
    return NftFirewall(table=options.table, netns=options.netns)


async def _call(action: str, work: Awaitable[T]) -> T:
    """The firewall's answer; its failures as the connector's: no nft here is a refusal, a failing nft retried."""
    try:
        return await work
    except NftUnavailable as exc:
        raise ConnectorRejected(f"{action}: {exc}") from None
    except NftError as exc:
        raise ConnectorUnavailable(f"{action}: nft failed: {exc}") from None


def _expiry(element: Element, now: datetime) -> datetime | None:
    return None if element.expires_seconds is None else now + timedelta(seconds=element.expires_seconds)


async def block(connection: Connection, args: BlockArgs, context: CallContext) -> Outcome:
    fw = firewall(connection)
    now = datetime.now(UTC)
    in_place = await _call(BLOCK.name, fw.lookup(args.address))
    repeated = in_place is not None and _covers(in_place, args.duration)
    element = (
        in_place
        if in_place is not None and repeated
        else await _call(BLOCK.name, fw.block(args.address, args.duration))
    )
    lasting = f" for {format_duration(args.duration)}" if args.duration else " until unblocked"
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=args.address,
        done=f"blocked {args.address} in and out{lasting} ({fw.where})",
        handle=f"inet {fw.table} {element.set} {element.value}",
        at=now,
        expires_at=_expiry(element, now),
        verified=Verification(how=f"read set {element.set} back", ok=True, detail=_left(element)),
        undo=UndoCall(action=UNBLOCK.name, args={"address": args.address, "connection": connection.name}),
        repeated=repeated,
    )
    return Outcome(details={"address": args.address, "set": element.set}, receipt=receipt)


def _covers(element: Element, duration: timedelta | None) -> bool:
    """Whether a block in place already does what is asked: permanent for permanent, else (almost) as long."""
    if duration is None or element.expires_seconds is None:
        return duration is None and element.expires_seconds is None
    return timedelta(seconds=element.expires_seconds) >= duration - min(REPEAT_SLACK, duration / 10)


def _left(element: Element) -> str:
    if element.expires_seconds is None:
        return "in place, no expiry"
    return f"in place, {element.expires_seconds}s left"


async def unblock(connection: Connection, args: UnblockArgs, context: CallContext) -> Outcome:
    fw = firewall(connection)
    removed = await _call(UNBLOCK.name, fw.unblock(args.address))
    still = await _call(UNBLOCK.name, fw.lookup(args.address))
    if still is not None:
        raise ConnectorUnavailable(f"{UNBLOCK.name}: {args.address} is still blocked after the delete")
    done = f"unblocked {args.address}" if removed else f"{args.address} was not blocked (expired or undone already)"
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=args.address,
        done=f"{done} ({fw.where})",
        at=datetime.now(UTC),
        verified=Verification(how="read the sets back", ok=True, detail="not blocked"),
        repeated=not removed,
    )
    return Outcome(details={"address": args.address, "removed": bool(removed)}, receipt=receipt)


async def list_blocked(connection: Connection, args: ListArgs, context: CallContext) -> Outcome:
    elements = await _call(LIST.name, firewall(connection).elements())
    shown = [{"address": e.value, "set": e.set, "expires_in_seconds": e.expires_seconds} for e in elements[:1000]]
    return Outcome(details={"blocked": shown, "count": len(elements)})


async def health(connection: Connection) -> str:
    fw = firewall(connection)
    try:
        present = await fw.exists()
        count = len(await fw.elements()) if present else 0
    except NftError as exc:
        raise ConnectorUnavailable(str(exc)) from None
    if not present:
        return f"nft works; table {fw.where} is not there yet (made on the first block)"
    return f"nft works; table {fw.where} holds {count} blocked address(es)"


BLOCK = ActionSpec(
    name="nftables.block",
    description="Block an address or network in and out on the connection's host (table inet xorb), for "
    "`duration` or until unblocked. A repeat finds the block in place. Undo: nftables.unblock.",
    args=BlockArgs,
    mutating=True,
    undo="nftables.unblock",
    connector=TOOL,
    effect="block",
    target="address",
    target_kind="ip",
)
UNBLOCK = ActionSpec(
    name="nftables.unblock",
    description="Lift a block made by nftables.block (succeeds when it is already gone).",
    args=UnblockArgs,
    mutating=True,
    connector=TOOL,
)
LIST = ActionSpec(
    name="nftables.list",
    description="What is blocked in the orchestrator's table, with the seconds left. Read-only.",
    args=ListArgs,
    mutating=False,
    connector=TOOL,
)

NFTABLES = ConnectorType(
    name=TOOL,
    description="Linux nftables on this host or a network namespace: the orchestrator's own table inet xorb.",
    options=Options,
    actions=[
        ConnectorAction(BLOCK, block),
        ConnectorAction(UNBLOCK, unblock),
        ConnectorAction(LIST, list_blocked),
    ],
    health=health,
)
