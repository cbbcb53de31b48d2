"""defender: Microsoft Defender for Endpoint machine isolation, through the Defender for Endpoint API.

- `defender.isolate` {machine_id, isolation_type?, comment?, verify_within?}: `POST /api/machines/{id}/isolate`
  `{"Comment", "IsolationType": "Full"|"Selective"}`. Defender answers with a machine action (its id is the
  receipt's handle) that it carries out later: it is polled (`GET /api/machineactions/{id}`) until `Succeeded`,
  within `verify_within` (default 60s); `Failed` or `TimeOut` fail the step to be retried, `Cancelled` (a person
  cancelled it) refuses it. The machine's isolate/unisolate actions are read first
  (`GET /api/machineactions?$filter=machineId eq '...'`): a machine whose last one that succeeded is an isolation is
  isolated already, and an isolation in progress is waited for — neither is asked again (`repeated`). Defender
  answers 400 `ActiveRequestAlreadyExists` to a second request while one is pending (the list can lag behind):
  that pending action is found and its receipt returned, not an error. Undo: `defender.unisolate`.
- `defender.unisolate` {machine_id, comment?, verify_within?}: the same the other way (`/unisolate`).

The connection: the API's base URL (https://api.securitycenter.microsoft.com, or a regional one) and OAuth2 client
credentials of an Entra app with Machine.Isolate and Machine.Read.All (`token_url:
https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`, `scope:
https://api.securitycenter.microsoft.com/.default`). The Comment carries the step's key, so the Defender portal
shows which incident isolated a machine. 429 (with Retry-After), 5xx and timeouts are retried; other 4xx refused.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
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
from xorb_orchestrator.connectors.http_api import client_for, credentials, target_url
from xorb_orchestrator.connectors.replies import (
    as_dict,
    as_list,
    json_object,
    printable,
    retry_after,
    transport_failures,
)
from xorb_orchestrator.models.receipt import Receipt, UndoCall, Verification
from xorb_orchestrator.playbook.actions import ActionSpec
from xorb_orchestrator.playbook.durations import Duration, format_duration

TOOL = "defender"
MAX_VERIFY = timedelta(minutes=10)  # a step's attempt has its own timeout (5m unless the step says)
MAX_MESSAGE = 200
RUNNING = ("Pending", "InProgress")
RETRYABLE_END = ("Failed", "TimeOut")  # the device did not carry it out: asking again may work
CANCELLED = ("Cancelled", "Canceled")  # Defender's documentation spells it both ways
ISOLATION_TYPES = ("Isolate", "Unisolate")
_MACHINE_ID = re.compile(r"^[0-9a-f]{40}$")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    poll_seconds: float = Field(
        5.0, gt=0, le=60, description="How often a machine action is read while it runs (the API allows 100/min)."
    )


class MachineArgs(ConnectorArgs):
    machine_id: str = Field(max_length=64, description="The Defender machine id (40 hexadecimal characters).")
    comment: str = Field("", max_length=400, description="Shown with the action in the Defender portal.")
    verify_within: Duration = Field(
        timedelta(seconds=60), description="How long the machine action may take to succeed before the step fails."
    )

    @field_validator("machine_id")
    @classmethod
    def _machine(cls, value: str) -> str:
        value = value.strip().lower()
        if not _MACHINE_ID.match(value):
            raise ValueError("not a Defender machine id (40 hexadecimal characters)")
        return value

    @field_validator("verify_within")
    @classmethod
    def _bounded(cls, value: timedelta) -> timedelta:
        if value > MAX_VERIFY:
            raise ValueError(f"must be at most {format_duration(MAX_VERIFY)}")
        return value


class IsolateArgs(MachineArgs):
    isolation_type: Literal["Full", "Selective"] = Field(
        "Full", description="Full cuts every connection but Defender's; Selective keeps Outlook, Teams and Skype."
    )


@dataclass(frozen=True)
class MachineAction:
    id: str
    type: str
    status: str
    scope: str | None
    machine: str
    created: str

    @classmethod
    def of(cls, body: dict[str, Any]) -> MachineAction:
        return cls(
            id=str(body.get("id") or ""),
            type=str(body.get("type") or ""),
            status=str(body.get("status") or ""),
            scope=str(body["scope"]) if body.get("scope") else None,
            machine=str(body.get("computerDnsName") or body.get("machineId") or ""),
            created=str(body.get("creationDateTimeUtc") or ""),
        )


@dataclass(frozen=True)
class _Change:
    action_type: str  # Defender's machine action type
    path: str  # under /api/machines/{id}/
    verb: str
    undo: str | None


ISOLATION = _Change("Isolate", "isolate", "isolated", "defender.unisolate")
RELEASE = _Change("Unisolate", "unisolate", "released from isolation", None)
# What a release finds on a machine no isolation ever succeeded on: nothing to release, nothing to ask.
NEVER_ISOLATED = MachineAction(id="", type="Unisolate", status="not isolated", scope=None, machine="", created="")


class _Defender:
    """One action's session with the API: its client, the credentials, and Defender's answers classified."""

    def __init__(self, connection: Connection, client: httpx.AsyncClient, context: CallContext) -> None:
        self.connection = connection
        self.client = client
        self.options = Options.model_validate(connection.options)
        self.user_agent = f"xorb-orchestrator (step {printable(context.key)})"

    async def request(
        self, method: str, path: str, *, params: dict[str, str] | None = None, json: Any = None, allow: int = 0
    ) -> httpx.Response:
        """Defender's answer: 2xx, or the status `allow`; anything else raised as a refusal or a failure to retry."""
        what = f"defender {method} /{path} ({self.connection.name})"
        response = await self._send(method, path, params, json, what)
        if response.status_code == 401:  # the cached token expired early or was revoked
            response = await self._send(method, path, params, json, what, fresh=True)
        status = response.status_code
        if 200 <= status < 300 or status == allow:
            return response
        said = f"{what}: {status} {error_summary(response)}".rstrip()
        wait = retry_after(response)
        if status == 429:
            limited = f"{said} (rate limited" + (f"; retry after {wait:.0f}s)" if wait is not None else ")")
            raise ConnectorUnavailable(limited, retry_after=wait)
        if status >= 500 or status == 408:
            raise ConnectorUnavailable(said, retry_after=wait)
        if status in (401, 403):
            raise ConnectorRejected(f"{said} (Defender refused the connection's app: check its API permissions)")
        raise ConnectorRejected(said)

    async def _send(
        self, method: str, path: str, params: dict[str, str] | None, json: Any, what: str, *, fresh: bool = False
    ) -> httpx.Response:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent,
                   **await credentials(self.client, self.connection, fresh=fresh)}  # fmt: skip
        with transport_failures(what):
            return await self.client.request(
                method, target_url(self.connection, path), params=params, json=json, headers=headers
            )

    async def isolation_actions(self, machine_id: str) -> list[MachineAction]:
        """The machine's isolate and unisolate actions, newest first."""
        # machine_id is 40 hex characters (checked), so it cannot break out of the OData string.
        response = await self.request("GET", "api/machineactions", params={"$filter": f"machineId eq '{machine_id}'"})
        found = [
            MachineAction.of(item) for item in as_list(json_object(response).get("value")) if isinstance(item, dict)
        ]
        return sorted((a for a in found if a.type in ISOLATION_TYPES), key=lambda a: a.created, reverse=True)

    async def action(self, action_id: str) -> MachineAction:
        return MachineAction.of(json_object(await self.request("GET", f"api/machineactions/{action_id}")))

    async def finished(self, action: MachineAction, change: _Change, within: timedelta) -> MachineAction:
        """The machine action read until it succeeds. Failed or timed out: ConnectorUnavailable (a retry asks again);
        cancelled by a person: ConnectorRejected; still running after `within`: ConnectorUnavailable (the retry
        finds it running and waits for it, asking nothing)."""
        deadline = time.monotonic() + within.total_seconds()
        while True:
            if action.status == "Succeeded":
                return action
            what = f"defender {change.path} {action.machine}: machine action {action.id}"
            if action.status in CANCELLED:
                raise ConnectorRejected(f"{what} was cancelled in Defender")
            if action.status in RETRYABLE_END:
                raise ConnectorUnavailable(f"{what} ended {action.status}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectorUnavailable(f"{what} is still {action.status} after {format_duration(within)}")
            await asyncio.sleep(min(self.options.poll_seconds, left))
            action = await self.action(action.id)


def in_place(change: _Change, actions: list[MachineAction]) -> MachineAction | None:
    """The action that already does what `change` asks: one of its type running, or — when the machine's last
    isolate/unisolate that succeeded is of its type — that one. ConnectorUnavailable while the opposite runs
    (Defender refuses a second request until it ends)."""
    running = next((a for a in actions if a.status in RUNNING), None)
    if running is not None:
        if running.type == change.action_type:
            return running
        raise ConnectorUnavailable(
            f"defender {change.path} {running.machine}: a {running.type} ({running.id}) is {running.status}; "
            "Defender takes no other request until it ends"
        )
    last = next((a for a in actions if a.status == "Succeeded"), None)
    if last is not None and last.type == change.action_type:
        return last
    if last is None and change.action_type == "Unisolate":
        return NEVER_ISOLATED
    return None


def error_summary(response: httpx.Response) -> str:
    """Defender's error (`{"error": {"code", "message"}}`) as `code: message`, bounded."""
    error = as_dict(json_object(response).get("error"))
    return ": ".join(str(error[k]) for k in ("code", "message") if error.get(k))[:MAX_MESSAGE]


def _check(connection: Connection) -> None:
    if connection.url is None:
        raise ConnectorRejected(
            f"connection {connection.name} has no url (the Defender API, https://api.securitycenter.microsoft.com)"
        )
    if connection.auth is None or connection.auth.type != "oauth2":
        raise ConnectorRejected(
            f"connection {connection.name}: Defender takes OAuth2 client credentials of an Entra app (auth type oauth2)"
        )


async def isolate(connection: Connection, args: IsolateArgs, context: CallContext) -> Outcome:
    return await _change(ISOLATION, connection, args, context, {"IsolationType": args.isolation_type})


async def unisolate(connection: Connection, args: MachineArgs, context: CallContext) -> Outcome:
    return await _change(RELEASE, connection, args, context, {})


async def _change(
    change: _Change, connection: Connection, args: MachineArgs, context: CallContext, body: dict[str, str]
) -> Outcome:
    _check(connection)
    now = datetime.now(UTC)
    async with client_for(connection) as client:
        defender = _Defender(connection, client, context)
        action = in_place(change, await defender.isolation_actions(args.machine_id))
        repeated = action is not None
        if action is None:
            comment = f"{args.comment or change.verb.capitalize()} (xorb-orchestrator step {printable(context.key)})"
            response = await defender.request("POST", f"api/machines/{args.machine_id}/{change.path}",
                                              json={"Comment": comment, **body}, allow=400)  # fmt: skip
            if response.status_code == 400:
                action = await _already_requested(defender, change, args.machine_id, response)
                repeated = True
            else:
                action = MachineAction.of(json_object(response))
                if not action.id:
                    raise ConnectorUnavailable(f"defender {change.path} {args.machine_id}: no machine action answered")
        if action.id:
            action = await defender.finished(action, change, args.verify_within)
    target = action.machine or args.machine_id
    scope = f" ({action.scope})" if action.scope else ""
    if action is NEVER_ISOLATED:
        done, how = f"machine {target} was not isolated", "read the machine's isolate and unisolate actions"
    else:
        verb = change.verb if not repeated else f"was already {change.verb}"
        done, how = f"machine {target} {verb}{scope}", "read the machine action back (GET /api/machineactions/{id})"
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=target,
        done=done,
        handle=f"machine action {action.id}" if action.id else None,
        at=now,
        verified=Verification(how=how, ok=True, detail=f"{action.type} {action.status}"),
        undo=UndoCall(action=change.undo, args={"machine_id": args.machine_id, "connection": connection.name})
        if change.undo
        else None,
        repeated=repeated,
    )
    details = {"machine_id": args.machine_id, "machine_action": action.id or None, "status": action.status,
               "requested": not repeated}  # fmt: skip
    return Outcome(details=details, receipt=receipt)


async def _already_requested(
    defender: _Defender, change: _Change, machine_id: str, refusal: httpx.Response
) -> MachineAction:
    """After a 400: when Defender says a request is already pending, that pending action (ours from an earlier
    attempt, or anyone's) — the effect asked for is on its way, so it is a repeat, not an error."""
    what = f"defender {change.path} {machine_id} ({defender.connection.name})"
    if as_dict(json_object(refusal).get("error")).get("code") != "ActiveRequestAlreadyExists":
        raise ConnectorRejected(f"{what}: 400 {error_summary(refusal)}".rstrip())
    found = in_place(change, await defender.isolation_actions(machine_id))
    if found is None or found is NEVER_ISOLATED:
        raise ConnectorUnavailable(f"{what}: Defender says a request is pending but does not list it yet")
    return found


async def health(connection: Connection) -> str:
    _check(connection)
    async with client_for(connection) as client:
        defender = _Defender(connection, client, CallContext("health", "", 1))
        machines = as_list(
            json_object(await defender.request("GET", "api/machines", params={"$top": "1"})).get("value")
        )
    return (
        f"the Defender for Endpoint API at {connection.url} answers ({len(machines)} machine(s) on a first page of 1)"
    )


ISOLATE = ActionSpec(
    name="defender.isolate",
    description="Isolate a machine from the network with Defender for Endpoint (Full or Selective). An isolation "
    "in place or pending is found, not asked again; the machine action is polled until it succeeds. "
    "Undo: defender.unisolate.",
    args=IsolateArgs,
    mutating=True,
    undo="defender.unisolate",
    connector=TOOL,
    effect="isolate",
    target="machine_id",
    target_kind="host",
)
UNISOLATE = ActionSpec(
    name="defender.unisolate",
    description="Release a machine from Defender isolation (a machine not isolated is left alone); the machine "
    "action is polled until it succeeds.",
    args=MachineArgs,
    mutating=True,
    connector=TOOL,
)

DEFENDER = ConnectorType(
    name=TOOL,
    description="Microsoft Defender for Endpoint API (OAuth2 client credentials): isolate and release machines.",
    options=Options,
    actions=[ConnectorAction(ISOLATE, isolate), ConnectorAction(UNISOLATE, unisolate)],
    health=health,
)
