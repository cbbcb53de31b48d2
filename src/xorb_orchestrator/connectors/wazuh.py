"""wazuh: block and unblock an address on named Wazuh agents through Wazuh's active response (server API 4.x).

- `wazuh.block_ip` {address, agents}: `PUT /active-response?agents_list=001,002` with `{"command":
  "!firewall-drop", "alert": {"data": {"srcip": address}}}` — the form Wazuh 4.2+ agents read (firewall-drop takes
  the address from the alert's `data.srcip`; `arguments` become `extra_args`, which it ignores). Wazuh's answer
  says the manager *dispatched* the command to each agent, not that the agent ran it, and Wazuh keeps nothing the
  API can read back: the receipt says so (`verified.ok` false, "Wazuh reports dispatch only"). A command sent
  through the API can neither time out (its timeout comes from the agent's ossec.conf) nor be undone by Wazuh, so
  the orchestrator's containment timer undoes it: `wazuh.unblock_ip`.
- `wazuh.unblock_ip` {address, agents}: the same request with the connection's `unblock_command`. Wazuh runs every
  command sent through its API in its `add` form (wazuh/wazuh#12342: the API cannot send `delete`), so taking a
  block back needs an active-response script on the agents that removes it — every copy, as firewall-drop inserts
  one more DROP rule each time it runs.

The agent list is never empty: without `agents_list` Wazuh sends the command to every agent. Agent 000 (the
manager) is refused too: Wazuh's API runs active responses on agents only and answers nothing for it. Before a
block the agents are read (`GET /agents`): an unknown agent is a refusal, one not active a failure to retry —
nothing is sent. Should an agent still fail at dispatch, the agents that got the block are sent the unblock before
the step fails (to be retried whole), so no step leaves a partial block behind. A step run again after its dispatch
went out (a worker that died in between) dispatches again; the receipt of an attempt after the first says so.

The connection: the API's URL (https://<manager>:55000) and `auth: {type: basic, username: ..., token:
"env:WAZUH_API_PASSWORD"}`, exchanged at `POST /security/user/authenticate` for a JWT cached until shortly before
the expiry it carries (Wazuh's default lifetime is 900s) and fetched again on a 401 (Wazuh revokes every token
when its security configuration changes). 429, 5xx and timeouts are retried; other 4xx are refusals.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
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

TOOL = "wazuh"
DISPATCH_ONLY = "Wazuh reports dispatch only"
MAX_AGENTS = 500
MAX_MESSAGE = 200
# Wazuh's own check of an active-response command: a script (`!name`) or a command name, no spaces or shell.
_COMMAND = r"^!?[\w\-.\\/:]{1,100}$"
_AGENT = re.compile(r"^\d{3,8}$")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    block_command: str = Field(
        "!firewall-drop",
        pattern=_COMMAND,
        description="The active response that blocks data.srcip (default: the agents' firewall-drop script, run "
        "by name, so Wazuh adds no timeout of its own).",
    )
    unblock_command: str = Field(
        pattern=_COMMAND,
        description="An active-response script on the agents that removes the block of data.srcip (every copy): "
        "Wazuh's API can only run a command's add form, so firewall-drop cannot be told to delete.",
    )
    token_lifetime: int = Field(
        900, ge=30, le=86_400, description="Seconds a JWT lasts when it does not say (Wazuh's auth_token_exp_timeout)."
    )


class AddressArgs(ConnectorArgs):
    address: str = Field(max_length=64, description="The IPv4 or IPv6 address to block (firewall-drop's srcip).")
    agents: list[str] = Field(
        max_length=MAX_AGENTS, description="The Wazuh agent ids to act on (never empty: empty means every agent)."
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError(f"{value[:80]!r} is not an IP address (firewall-drop blocks one address)") from None

    @field_validator("agents")
    @classmethod
    def _agents(cls, agents: list[str]) -> list[str]:
        if not agents:
            raise ValueError("name at least one agent: Wazuh sends a command without agents_list to every agent")
        for agent in agents:
            if not _AGENT.match(agent.strip()):
                raise ValueError(f"{agent[:40]!r} is not a Wazuh agent id (digits, e.g. 001); 'all' is never implied")
            if agent.strip() == "000":
                raise ValueError("000 is the Wazuh manager: Wazuh's API runs active responses on agents only")
        return sorted({agent.strip() for agent in agents})


@dataclass(frozen=True)
class Dispatch:
    sent: list[str]  # agent ids the manager dispatched the command to
    failed: dict[str, str]  # agent id -> Wazuh's reason


@dataclass
class _Token:
    value: str
    until: float


_TOKENS: dict[tuple[str, str], _Token] = {}  # (connection, API URL) -> a JWT, this process only


class _Wazuh:
    """One action's session with the Wazuh server API: its client, the JWT, and Wazuh's answers classified."""

    def __init__(self, connection: Connection, client: httpx.AsyncClient, context: CallContext) -> None:
        self.connection = connection
        self.client = client
        self.options = Options.model_validate(connection.options)
        self.user_agent = f"xorb-orchestrator (step {printable(context.key)})"

    async def request(self, method: str, path: str, *, params: dict[str, str], json: Any = None) -> dict[str, Any]:
        """Wazuh's answer (2xx) as JSON; anything else raised as a refusal or a failure to retry."""
        what = f"wazuh {method} /{path} ({self.connection.name})"
        response = await self._send(method, path, params, json, what)
        if response.status_code == 401:  # Wazuh revokes every token when its security configuration changes
            response = await self._send(method, path, params, json, what, fresh=True)
        status = response.status_code
        if 200 <= status < 300:
            return json_object(response)
        said = f"{what}: {status} {error_summary(response)}".rstrip()
        if status == 429 or status >= 500 or status == 408:
            raise ConnectorUnavailable(said, retry_after=retry_after(response))
        raise ConnectorRejected(said)

    async def _send(
        self, method: str, path: str, params: dict[str, str], json: Any, what: str, *, fresh: bool = False
    ) -> httpx.Response:
        token = await self._token(fresh=fresh)
        headers = {"Accept": "application/json", "User-Agent": self.user_agent, "Authorization": f"Bearer {token}"}
        with transport_failures(what):
            return await self.client.request(
                method, target_url(self.connection, path), params=params, json=json, headers=headers
            )

    async def _token(self, *, fresh: bool) -> str:
        """A JWT for the connection's user, cached until shortly before it expires (this process only)."""
        assert self.connection.url is not None
        key = (self.connection.name, self.connection.url)
        cached = _TOKENS.get(key)
        if cached is not None and not fresh and cached.until > time.monotonic():
            return cached.value
        what = f"wazuh POST /security/user/authenticate ({self.connection.name})"
        with transport_failures(what):
            response = await self.client.post(
                target_url(self.connection, "security/user/authenticate"),
                headers={
                    "Accept": "application/json",
                    "User-Agent": self.user_agent,
                    **await credentials(self.client, self.connection),
                },
            )
        if response.status_code != 200:
            said = f"{what}: {response.status_code} {error_summary(response)}".rstrip()
            if response.status_code == 429 or response.status_code >= 500:
                raise ConnectorUnavailable(said, retry_after=retry_after(response))
            raise ConnectorRejected(f"{said} (Wazuh refused the connection's user and password)")
        token = as_dict(json_object(response).get("data")).get("token")
        if not isinstance(token, str) or not token:
            raise ConnectorUnavailable(f"{what}: answered without a token")
        lifetime = _seconds_left(token) or float(self.options.token_lifetime)
        _TOKENS[key] = _Token(token, time.monotonic() + lifetime - min(60.0, lifetime / 10))
        return token

    async def check_agents(self, agents: list[str], verb: str) -> None:
        """Every agent exists (else ConnectorRejected) and is active (else ConnectorUnavailable): Wazuh cannot
        dispatch to an agent that is not connected, and a partial block is what this avoids."""
        body = await self.request("GET", "agents", params={"agents_list": ",".join(agents), "select": "id,status"})
        data = as_dict(body.get("data"))
        status = {str(as_dict(a).get("id")): str(as_dict(a).get("status")) for a in as_list(data.get("affected_items"))}
        unknown = [a for a in agents if a not in status]
        if unknown:
            raise ConnectorRejected(f"wazuh {verb} ({self.connection.name}): no agent {', '.join(unknown)} in Wazuh")
        inactive = [f"{a} is {status[a]}" for a in agents if status[a] != "active"]
        if inactive:
            raise ConnectorUnavailable(
                f"wazuh {verb} ({self.connection.name}): {'; '.join(inactive)}: Wazuh can only dispatch to active "
                "agents (nothing was sent)"
            )

    async def dispatch(self, command: str, address: str, agents: list[str]) -> Dispatch:
        """PUT /active-response to exactly these agents; which of them the manager dispatched it to."""
        assert agents, "an empty agents_list would reach every agent"
        body = await self.request(
            "PUT", "active-response", params={"agents_list": ",".join(agents)},
            json={"command": command, "alert": {"data": {"srcip": address}}},
        )  # fmt: skip
        data = as_dict(body.get("data"))
        sent = sorted(str(a) for a in as_list(data.get("affected_items")) if str(a) in agents)
        failed: dict[str, str] = {}
        for item in as_list(data.get("failed_items")):
            error = as_dict(as_dict(item).get("error"))
            reason = f"{error.get('code', '')} {error.get('message', '')}".strip()[:MAX_MESSAGE]
            for agent in as_list(as_dict(item).get("id")):
                failed[str(agent)] = reason
        for agent in agents:  # neither dispatched nor failed: Wazuh did not send it
            if agent not in sent and agent not in failed:
                failed[agent] = "not dispatched"
        return Dispatch(sent=sent, failed=failed)


def error_summary(response: httpx.Response) -> str:
    """Wazuh's problem details (`{"title", "detail"}`), bounded."""
    body = json_object(response)
    return ": ".join(str(body[k]) for k in ("title", "detail") if body.get(k))[:MAX_MESSAGE]


def _seconds_left(token: str) -> float | None:
    """The seconds until the JWT's `exp` (read, not verified: it only decides when to fetch a new one)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        left = float(claims["exp"]) - time.time()
    except (IndexError, ValueError, KeyError, TypeError, binascii.Error):
        return None
    return left if left > 0 else None


def _check(connection: Connection) -> None:
    if connection.url is None:
        raise ConnectorRejected(
            f"connection {connection.name} has no url (the Wazuh server API, https://<manager>:55000)"
        )
    if connection.auth is None or connection.auth.type != "basic":
        raise ConnectorRejected(
            f"connection {connection.name}: the Wazuh API takes a user and password (auth type basic), exchanged "
            "for a JWT"
        )


def _failures(dispatch: Dispatch) -> str:
    return "; ".join(f"{agent}: {reason}" for agent, reason in sorted(dispatch.failed.items()))


async def block_ip(connection: Connection, args: AddressArgs, context: CallContext) -> Outcome:
    _check(connection)
    now = datetime.now(UTC)
    async with client_for(connection) as client:
        wazuh = _Wazuh(connection, client, context)
        options = wazuh.options
        await wazuh.check_agents(args.agents, BLOCK.name)
        dispatch = await wazuh.dispatch(options.block_command, args.address, args.agents)
        if dispatch.failed:
            # All or nothing: take the block back from the agents that got it, then fail the step to be retried.
            taken_back = ""
            if dispatch.sent:
                back = await wazuh.dispatch(options.unblock_command, args.address, dispatch.sent)
                taken_back = f"; sent {options.unblock_command} to {', '.join(back.sent) or 'none'} of them"
            raise ConnectorUnavailable(
                f"{BLOCK.name} {args.address} ({connection.name}): Wazuh did not dispatch to {_failures(dispatch)}"
                f" (dispatched to {', '.join(dispatch.sent) or 'none'}{taken_back})"
            )
    agents = ", ".join(dispatch.sent)
    again = (
        f"; attempt {context.attempt}: an earlier attempt of this step may have dispatched it too"
        if context.attempt > 1
        else ""
    )
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=f"{args.address} on agent(s) {agents}",
        done=f"dispatched {options.block_command} for {args.address} to agent(s) {agents}",
        at=now,
        verified=Verification(
            how=DISPATCH_ONLY,
            ok=False,
            detail=f"the manager dispatched it to {agents}; Wazuh cannot say whether they blocked it, nor time it "
            f"out or undo it{again}",
        ),
        undo=UndoCall(
            action=UNBLOCK.name, args={"address": args.address, "agents": dispatch.sent, "connection": connection.name}
        ),
    )
    details = {"address": args.address, "agents": dispatch.sent, "command": options.block_command,
               "dispatched": True, "attempt": context.attempt}  # fmt: skip
    return Outcome(details=details, receipt=receipt)


async def unblock_ip(connection: Connection, args: AddressArgs, context: CallContext) -> Outcome:
    _check(connection)
    now = datetime.now(UTC)
    async with client_for(connection) as client:
        wazuh = _Wazuh(connection, client, context)
        command = wazuh.options.unblock_command
        dispatch = await wazuh.dispatch(command, args.address, args.agents)
    if dispatch.failed:
        # An undo that does not reach an agent leaves its block in place: fail loudly, to be retried (removing an
        # address that is not blocked is harmless, so the agents that got it may get it again).
        raise ConnectorUnavailable(
            f"{UNBLOCK.name} {args.address} ({connection.name}): Wazuh did not dispatch to {_failures(dispatch)}; "
            f"the block stays on them"
        )
    agents = ", ".join(dispatch.sent)
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=f"{args.address} on agent(s) {agents}",
        done=f"dispatched {command} for {args.address} to agent(s) {agents}",
        at=now,
        verified=Verification(
            how=DISPATCH_ONLY, ok=False, detail=f"the manager dispatched it to {agents}; Wazuh cannot say it ran"
        ),
    )
    details = {"address": args.address, "agents": dispatch.sent, "command": command, "dispatched": True}
    return Outcome(details=details, receipt=receipt)


async def health(connection: Connection) -> str:
    _check(connection)
    async with client_for(connection) as client:
        wazuh = _Wazuh(connection, client, CallContext("health", "", 1))
        body = await wazuh.request("GET", "", params={})
    data = as_dict(body.get("data"))
    return f"the Wazuh API at {connection.url} answers (API {data.get('api_version', 'version unknown')})"


BLOCK = ActionSpec(
    name="wazuh.block_ip",
    description="Block an address on named Wazuh agents (firewall-drop through active response; never all agents). "
    "Wazuh reports dispatch only: the receipt says so. Undo: wazuh.unblock_ip (the orchestrator times it).",
    args=AddressArgs,
    mutating=True,
    undo="wazuh.unblock_ip",
    connector=TOOL,
    effect="block",
    target="address",
    target_kind="ip",
)
UNBLOCK = ActionSpec(
    name="wazuh.unblock_ip",
    description="Remove a block made by wazuh.block_ip, with the connection's unblock_command script on the agents "
    "(Wazuh's API cannot send firewall-drop's delete). Dispatch only.",
    args=AddressArgs,
    mutating=True,
    connector=TOOL,
)

WAZUH = ConnectorType(
    name=TOOL,
    description="Wazuh server API 4.x (user and password by reference, exchanged for a JWT): block and unblock an "
    "address on named agents through active response.",
    options=Options,
    actions=[ConnectorAction(BLOCK, block_ip), ConnectorAction(UNBLOCK, unblock_ip)],
    health=health,
)
