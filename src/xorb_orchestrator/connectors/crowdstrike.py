"""crowdstrike: CrowdStrike Falcon network containment of hosts, through the Falcon API.

- `crowdstrike.contain` {device_id, verify_within?}: `POST /devices/entities/devices-actions/v2?action_name=contain`
  with `{"ids": [device_id]}`. Falcon keeps no request of ours to find again (containment is last-write-wins, and an
  action has no id but the host's), so the host is read first (`GET /devices/entities/devices/v2?ids=...`): one
  already `contained` is the effect in place (a `repeated` receipt, nothing sent); one `containment_pending` was
  asked already (by an earlier attempt of this step, or anyone) and is waited for, not asked again. Verified by
  reading the host back until it reports `contained`, within `verify_within` (default 60s); still pending then,
  the step fails to be retried, and the retry reads first. Undo: `crowdstrike.lift_containment`.
- `crowdstrike.lift_containment` {device_id, verify_within?}: the same the other way
  (`action_name=lift_containment`), until the host reports `normal`.

The connection: the API's base URL for the cloud (e.g. https://api.crowdstrike.com) and OAuth2 client credentials
(`auth: {type: oauth2, token_url: https://api.crowdstrike.com/oauth2/token, client_id: ..., client_secret:
"env:FALCON_SECRET"}`), a token cached for its 30 minutes and fetched again on a 401. 429 (Falcon says when in
X-RateLimit-RetryAfter, an epoch second: the next attempt waits that long), 5xx and timeouts are retried; other
4xx are refusals.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

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

TOOL = "crowdstrike"
DEVICES = "devices/entities/devices/v2"
DEVICE_ACTIONS = "devices/entities/devices-actions/v2"
MAX_VERIFY = timedelta(minutes=10)  # a step's attempt has its own timeout (5m unless the step says)
MAX_MESSAGE = 200
_DEVICE_ID = re.compile(r"^[0-9a-f]{32}$")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    poll_seconds: float = Field(5.0, gt=0, le=60, description="How often a host is read back while a change settles.")


class HostArgs(ConnectorArgs):
    device_id: str = Field(max_length=64, description="The host's Falcon device id (AID: 32 hexadecimal characters).")
    verify_within: Duration = Field(
        timedelta(seconds=60), description="How long the host may take to report the change before the step fails."
    )

    @field_validator("device_id")
    @classmethod
    def _aid(cls, value: str) -> str:
        value = value.strip().lower()
        if not _DEVICE_ID.match(value):
            raise ValueError("not a Falcon device id (32 hexadecimal characters)")
        return value

    @field_validator("verify_within")
    @classmethod
    def _bounded(cls, value: timedelta) -> timedelta:
        if value > MAX_VERIFY:
            raise ValueError(f"must be at most {format_duration(MAX_VERIFY)}")
        return value


@dataclass(frozen=True)
class Host:
    device_id: str
    hostname: str | None
    status: str

    @property
    def name(self) -> str:
        return f"{self.hostname} ({self.device_id})" if self.hostname else self.device_id


@dataclass(frozen=True)
class _Change:
    action_name: str  # Falcon's action_name
    pending: str  # the host's status while Falcon carries it out
    done: str  # the host's status once it holds
    verb: str
    undo: str | None


CONTAINMENT = _Change(
    "contain", pending="containment_pending", done="contained", verb="network-contained",
    undo="crowdstrike.lift_containment",
)  # fmt: skip
RELEASE = _Change(
    "lift_containment", pending="lift_containment_pending", done="normal", verb="lifted the containment of", undo=None
)


class _Falcon:
    """One action's session with the Falcon API: its client, the credentials, and Falcon's answers classified."""

    def __init__(self, connection: Connection, client: httpx.AsyncClient, context: CallContext) -> None:
        self.connection = connection
        self.client = client
        self.options = Options.model_validate(connection.options)
        self.user_agent = f"xorb-orchestrator (step {printable(context.key)})"

    async def request(self, method: str, path: str, *, params: dict[str, str], json: Any = None) -> dict[str, Any]:
        """Falcon's answer (2xx) as JSON; anything else raised as a refusal or a failure to retry."""
        what = f"crowdstrike {method} /{path} ({self.connection.name})"
        response = await self._send(method, path, params, json, what)
        if response.status_code == 401:  # the cached token was revoked or expired early
            response = await self._send(method, path, params, json, what, fresh=True)
        status = response.status_code
        if 200 <= status < 300:
            return json_object(response)
        said = f"{what}: {status} {error_summary(response)}".rstrip()
        if status == 429:
            wait = retry_after(response)
            raise ConnectorUnavailable(f"{said} (rate limited{_retry_in(wait)})", retry_after=wait)
        if status >= 500 or status == 408:
            raise ConnectorUnavailable(said, retry_after=retry_after(response))
        if status in (401, 403):
            raise ConnectorRejected(f"{said} (Falcon refused the connection's API client: check its scopes)")
        raise ConnectorRejected(said)

    async def _send(
        self, method: str, path: str, params: dict[str, str], json: Any, what: str, *, fresh: bool = False
    ) -> httpx.Response:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent,
                   **await credentials(self.client, self.connection, fresh=fresh)}  # fmt: skip
        with transport_failures(what):
            return await self.client.request(
                method, target_url(self.connection, path), params=params, json=json, headers=headers
            )

    async def host(self, device_id: str) -> Host:
        body = await self.request("GET", DEVICES, params={"ids": device_id})
        for item in as_list(body.get("resources")):
            if isinstance(item, dict) and str(item.get("device_id", "")).lower() == device_id:
                hostname = item.get("hostname")
                return Host(device_id, str(hostname) if hostname else None, str(item.get("status") or ""))
        raise ConnectorRejected(f"crowdstrike ({self.connection.name}): Falcon has no host with device id {device_id}")

    async def act(self, change: _Change, device_id: str) -> None:
        await self.request("POST", DEVICE_ACTIONS, params={"action_name": change.action_name},
                           json={"ids": [device_id]})  # fmt: skip

    async def settled(self, host: Host, change: _Change, within: timedelta) -> Host:
        """The host read back until it reports `change.done`; ConnectorUnavailable after `within` (the step is
        retried, and the retry reads what Falcon did by then before asking anything)."""
        deadline = time.monotonic() + within.total_seconds()
        while True:
            host = await self.host(host.device_id)
            if host.status == change.done:
                return host
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectorUnavailable(
                    f"crowdstrike {change.action_name} {host.name}: Falcon still reports {host.status or 'no status'} "
                    f"after {format_duration(within)} (containment is last-write-wins: a later request wins)"
                )
            await asyncio.sleep(min(self.options.poll_seconds, left))


def error_summary(response: httpx.Response) -> str:
    """Falcon's first error (`{"errors": [{"code": ..., "message": ...}]}`), bounded."""
    errors = as_list(json_object(response).get("errors"))
    return str(as_dict(errors[0] if errors else None).get("message", ""))[:MAX_MESSAGE]


def _retry_in(wait: float | None) -> str:
    """Falcon says when to come back as an epoch second (X-RateLimit-RetryAfter), read by `retry_after`."""
    return "" if wait is None else f"; retry after {wait:.0f}s"


def _check(connection: Connection) -> None:
    if connection.url is None:
        raise ConnectorRejected(
            f"connection {connection.name} has no url (the Falcon API, https://api.crowdstrike.com)"
        )
    if connection.auth is None or connection.auth.type != "oauth2":
        raise ConnectorRejected(
            f"connection {connection.name}: Falcon takes OAuth2 client credentials (auth type oauth2, token_url "
            "<api>/oauth2/token)"
        )


async def contain(connection: Connection, args: HostArgs, context: CallContext) -> Outcome:
    return await _change(CONTAINMENT, connection, args, context)


async def lift_containment(connection: Connection, args: HostArgs, context: CallContext) -> Outcome:
    return await _change(RELEASE, connection, args, context)


async def _change(change: _Change, connection: Connection, args: HostArgs, context: CallContext) -> Outcome:
    _check(connection)
    now = datetime.now(UTC)
    async with client_for(connection) as client:
        falcon = _Falcon(connection, client, context)
        host = await falcon.host(args.device_id)
        before = host.status
        # Read before write: last-write-wins means asking again could only override someone, never help.
        repeated = before in (change.pending, change.done)
        if not repeated:
            await falcon.act(change, host.device_id)
        started = time.monotonic()
        if host.status != change.done:
            host = await falcon.settled(host, change, args.verify_within)
        waited = time.monotonic() - started
    if not repeated:
        done = f"{change.verb} host {host.name}"
    elif before == change.done:
        done = f"host {host.name} was already {change.done}"
    else:
        done = f"host {host.name} was already {before} (asked before); now {host.status}"
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=host.name,
        done=done,
        handle=f"falcon device {host.device_id}",
        at=now,
        verified=Verification(
            how=f"read the host back (GET /{DEVICES})", ok=True, detail=f"status {host.status} after {waited:.1f}s"
        ),
        undo=UndoCall(action=change.undo, args={"device_id": host.device_id, "connection": connection.name})
        if change.undo
        else None,
        repeated=repeated,
    )
    details = {"device_id": host.device_id, "hostname": host.hostname, "status": host.status, "requested": not repeated}
    return Outcome(details=details, receipt=receipt)


async def health(connection: Connection) -> str:
    _check(connection)
    async with client_for(connection) as client:
        falcon = _Falcon(connection, client, CallContext("health", "", 1))
        body = await falcon.request("GET", "devices/queries/devices/v1", params={"limit": "1"})
    pagination = as_dict(as_dict(body.get("meta")).get("pagination"))
    return f"the Falcon Hosts API at {connection.url} answers ({pagination.get('total', 'an unknown number of')} hosts)"


CONTAIN = ActionSpec(
    name="crowdstrike.contain",
    description="Network-contain a host with CrowdStrike Falcon (only the Falcon cloud stays reachable). A host "
    "already contained or pending is found, not asked again; read back until `contained`. "
    "Undo: crowdstrike.lift_containment.",
    args=HostArgs,
    mutating=True,
    undo="crowdstrike.lift_containment",
    connector=TOOL,
    effect="isolate",
    target="device_id",
    target_kind="host",
)
LIFT_CONTAINMENT = ActionSpec(
    name="crowdstrike.lift_containment",
    description="Lift the Falcon network containment of a host (a host already normal is found, not changed); read "
    "back until `normal`.",
    args=HostArgs,
    mutating=True,
    connector=TOOL,
)

CROWDSTRIKE = ConnectorType(
    name=TOOL,
    description="CrowdStrike Falcon Hosts API (OAuth2 client credentials): contain and lift containment of hosts.",
    options=Options,
    actions=[ConnectorAction(CONTAIN, contain), ConnectorAction(LIFT_CONTAINMENT, lift_containment)],
    health=health,
)
