"""openc2-slpf: an OpenC2 producer speaking the Stateless Packet Filtering profile (OpenC2 Language 1.0 over HTTPS)
to a consumer — any SLPF actuator, such as the one we ship (`xorb actuator slpf`, docs/openc2.md).

- `openc2.deny` / `openc2.allow` {address (an ipv4_net or ipv6_net), duration?, direction?}: the command carries
  `response_requested: complete`, so the consumer answers with the rule number — the receipt's handle — and the
  undo is `openc2.delete` of that rule. The duration goes in `args.duration` (milliseconds); the consumer ends the
  rule itself, and the receipt says when.
- `openc2.delete` {rule_number}: delete slpf:rule_number (a rule already gone is not an error).
- `openc2.query_features`: what the consumer supports (read-only).
- `openc2.update_file` {name, path?}: update file, for consumers that take configuration files.

Status codes per the profile: 200 done; 400 the command was malformed (a refusal); 501 the consumer does not
support the pair or an argument (a refusal); 500, 503 and network failures are retried.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from xorb_orchestrator.connectors.base import (
    CallContext,
    ConnectorAction,
    ConnectorArgs,
    ConnectorError,
    ConnectorRejected,
    ConnectorType,
    ConnectorUnavailable,
    Outcome,
)
from xorb_orchestrator.connectors.connections import Connection
from xorb_orchestrator.connectors.http_api import client_for, credentials
from xorb_orchestrator.connectors.replies import as_dict, retry_after, transport_failures
from xorb_orchestrator.models.receipt import Receipt, UndoCall, Verification
from xorb_orchestrator.playbook.actions import ActionSpec
from xorb_orchestrator.playbook.durations import Duration, format_duration

TOOL = "openc2-slpf"
COMMAND_TYPE = "application/openc2-cmd+json;version=1.0"
RESPONSE_TYPES = "application/openc2-rsp+json;version=1.0, application/openc2+json;version=1.0, application/json"
MAX_RESPONSE_BYTES = 64 * 1024
# How consumers say a rule to delete is not there (the profile leaves the words to them): an undo run again, or a
# rule its duration already ended, is done rather than failed.
_GONE = re.compile(r"\b404\b|not found|no such rule|does not exist|unknown rule|not in use", re.IGNORECASE)


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    actuator: dict[str, Any] = Field(
        default_factory=dict, description="Actuator specifiers sent with every command, e.g. {asset_id: gw-1}."
    )


class NetArgs(ConnectorArgs):
    address: str = Field(max_length=64, description="An IPv4/IPv6 address or network (CIDR).")
    duration: Duration | None = Field(None, description="How long the rule lasts; the consumer ends it.")
    direction: Literal["both", "ingress", "egress"] | None = None

    @field_validator("address")
    @classmethod
    def _net(cls, value: str) -> str:
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(f"{value[:80]!r} is not an IP address or network") from None
        return str(network)


class DeleteArgs(ConnectorArgs):
    rule_number: int = Field(ge=0, description="The rule number a deny or allow answered with.")


class QueryArgs(ConnectorArgs):
    pass


class UpdateFileArgs(ConnectorArgs):
    name: str = Field(min_length=1, max_length=255)
    path: str | None = Field(None, max_length=1024)


def _target(address: str) -> dict[str, str]:
    network = ipaddress.ip_network(address)
    return {"ipv4_net" if network.version == 4 else "ipv6_net": address}


async def send(connection: Connection, command: dict[str, Any], context: CallContext) -> dict[str, Any]:
    """POST one command; the consumer's response (status 200), or the failure it stands for."""
    if connection.url is None:
        raise ConnectorRejected(f"connection {connection.name} has no url (the consumer's /openc2 endpoint)")
    specifiers = Options.model_validate(connection.options).actuator
    if specifiers:
        command = {**command, "actuator": {"slpf": specifiers}}
    what = f"{command['action']} {next(iter(command['target']))}"
    async with client_for(connection) as client:
        headers = {"Content-Type": COMMAND_TYPE, "Accept": RESPONSE_TYPES, "X-Request-ID": context.key,
                   **await credentials(client, connection)}  # fmt: skip
        with transport_failures(f"openc2 {what} to {connection.name}"):
            response = await client.post(connection.url, json=command, headers=headers)
    try:
        body = response.json() if len(response.content) <= MAX_RESPONSE_BYTES else {}
    except ValueError:
        body = {}
    status = body.get("status", response.status_code) if isinstance(body, dict) else response.status_code
    text = str(body.get("status_text", "")) if isinstance(body, dict) else ""
    said = f"openc2 {what} to {connection.name}: {status}" + (f" {text}" if text else "")
    if response.status_code in (401, 403):
        raise ConnectorRejected(f"{said} (the consumer refused our credentials)")
    if status in (400, 404, 501) or 400 <= response.status_code < 500:
        raise ConnectorRejected(said)
    if status != 200 or response.status_code != 200:
        raise ConnectorUnavailable(said, retry_after=retry_after(response))
    return dict(body)


async def deny(connection: Connection, args: NetArgs, context: CallContext) -> Outcome:
    return await _rule("deny", connection, args, context)


async def allow(connection: Connection, args: NetArgs, context: CallContext) -> Outcome:
    return await _rule("allow", connection, args, context)


async def _rule(action: str, connection: Connection, args: NetArgs, context: CallContext) -> Outcome:
    command_args: dict[str, Any] = {"response_requested": "complete"}
    if args.duration is not None:
        command_args["duration"] = int(args.duration.total_seconds() * 1000)
    if args.direction is not None:
        command_args["slpf"] = {"direction": args.direction}
    now = datetime.now(UTC)
    body = await send(connection, {"action": action, "target": _target(args.address), "args": command_args}, context)
    rule = as_dict(as_dict(body.get("results")).get("slpf")).get("rule_number")
    if not isinstance(rule, int):
        raise ConnectorRejected(f"openc2 {action} to {connection.name}: 200 without slpf.rule_number: cannot undo it")
    lasting = f" for {format_duration(args.duration)}" if args.duration else " until deleted"
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=args.address,
        done=f"{action} {args.address}{lasting} (rule {rule})",
        handle=f"slpf:rule_number {rule}",
        at=now,
        expires_at=now + args.duration if args.duration else None,
        verified=Verification(how="the consumer's complete response", ok=True, detail=f"rule {rule} in place"),
        undo=UndoCall(action=DELETE.name, args={"rule_number": rule, "connection": connection.name}),
    )
    return Outcome(details={"rule_number": rule, "address": args.address}, receipt=receipt)


async def delete(connection: Connection, args: DeleteArgs, context: CallContext) -> Outcome:
    command = {"action": "delete", "target": {"slpf:rule_number": args.rule_number},
               "args": {"response_requested": "complete"}}  # fmt: skip
    try:
        await send(connection, command, context)
        gone = False
    except ConnectorError as exc:
        if not _GONE.search(str(exc)):
            raise
        gone = True  # deleted before (an undo run again) or ended by its duration
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=f"rule {args.rule_number}",
        done=f"rule {args.rule_number} " + ("was already gone" if gone else "deleted"),
        handle=f"slpf:rule_number {args.rule_number}",
        at=datetime.now(UTC),
        repeated=gone,
    )
    return Outcome(details={"rule_number": args.rule_number, "deleted": not gone}, receipt=receipt)


async def query_features(connection: Connection, args: QueryArgs, context: CallContext) -> Outcome:
    command = {"action": "query", "target": {"features": ["versions", "profiles", "pairs", "rate_limit"]}}
    body = await send(connection, command, context)
    return Outcome(details={"results": body.get("results", {})})


async def update_file(connection: Connection, args: UpdateFileArgs, context: CallContext) -> Outcome:
    target: dict[str, Any] = {"file": {"name": args.name, **({"path": args.path} if args.path else {})}}
    await send(connection, {"action": "update", "target": target, "args": {"response_requested": "complete"}}, context)
    receipt = Receipt(tool=TOOL, connection=connection.name, target=args.name, done=f"update file {args.name}",
                      at=datetime.now(UTC))  # fmt: skip
    return Outcome(details={"file": args.name}, receipt=receipt)


async def health(connection: Connection) -> str:
    outcome = await query_features(connection, QueryArgs(), CallContext("health", "", 1))
    results = as_dict(outcome.details["results"])
    pairs = as_dict(results.get("pairs"))
    return f"OpenC2 consumer answers: versions {results.get('versions')}, pairs {sorted(pairs)}"


DENY = ActionSpec(
    name="openc2.deny",
    description="OpenC2 SLPF: deny an ipv4_net/ipv6_net (for `duration`), rule number in the receipt. "
    "Undo: openc2.delete.",
    args=NetArgs,
    mutating=True,
    undo="openc2.delete",
    connector=TOOL,
    effect="block",
    target="address",
    target_kind="ip",
)
ALLOW = ActionSpec(
    name="openc2.allow",
    description="OpenC2 SLPF: allow an ipv4_net/ipv6_net (for `duration`). Undo: openc2.delete.",
    args=NetArgs,
    mutating=True,
    undo="openc2.delete",
    connector=TOOL,
)
DELETE = ActionSpec(
    name="openc2.delete",
    description="OpenC2 SLPF: delete slpf:rule_number (a rule already gone is not an error).",
    args=DeleteArgs,
    mutating=True,
    connector=TOOL,
)
QUERY = ActionSpec(
    name="openc2.query_features",
    description="OpenC2: query features (versions, profiles, pairs, rate limit). Read-only.",
    args=QueryArgs,
    mutating=False,
    connector=TOOL,
)
UPDATE = ActionSpec(
    name="openc2.update_file",
    description="OpenC2 SLPF: update file (a consumer's configuration file).",
    args=UpdateFileArgs,
    mutating=True,
    connector=TOOL,
)

OPENC2_SLPF = ConnectorType(
    name=TOOL,
    description="An OpenC2 SLPF consumer over HTTPS (e.g. xorb actuator slpf on a gateway).",
    options=Options,
    actions=[
        ConnectorAction(DENY, deny),
        ConnectorAction(ALLOW, allow),
        ConnectorAction(DELETE, delete),
        ConnectorAction(QUERY, query_features),
        ConnectorAction(UPDATE, update_file),
    ],
    health=health,
)
