"""okta: suspend, unsuspend and sign out Okta users through the Okta Users API.

- `okta.suspend_user` {user, verify_within?}: `POST /api/v1/users/{id}/lifecycle/suspend`. Okta suspends only an
  ACTIVE user and answers 400 for any other status, so the user is read first (`GET /api/v1/users/{id}`): one
  already SUSPENDED is found, not suspended again (`repeated`); one in another status is refused, naming it. The
  status is read back until it holds (`verify_within`). Undo: `okta.unsuspend_user` of the user's Okta id.
- `okta.unsuspend_user` {user}: the same from SUSPENDED back to ACTIVE (`/lifecycle/unsuspend`).
- `okta.clear_sessions` {user, oauth_tokens?}: `DELETE /api/v1/users/{id}/sessions` — one-way. Okta offers no read
  of a user's sessions, so a retried step (attempt > 1) looks in the System Log (`GET /api/v1/logs`) for its own
  `user.session.clear`, recognised by the step's key that every request carries in its User-Agent; when the log
  cannot show it (not written yet, not readable), the sessions are cleared again: the same end state.

The connection: the org's URL and the API token by reference, e.g. `auth: {type: header, header: Authorization,
token: "env:OKTA_API_TOKEN"}`; the connector puts Okta's `SSWS` scheme before the token (option `token_scheme`).
A user is named by id, login or login shortname, sent as one URL path segment. 429 (Okta says when its limit
resets in X-Rate-Limit-Reset: the next attempt waits until then), 5xx and timeouts are retried; other 4xx are
refusals.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
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
from xorb_orchestrator.connectors.http_api import client_for, credentials, target_url
from xorb_orchestrator.connectors.replies import as_dict, json_object, json_objects, retry_after, transport_failures
from xorb_orchestrator.models.receipt import Receipt, UndoCall, Verification
from xorb_orchestrator.playbook.actions import ActionSpec
from xorb_orchestrator.playbook.durations import Duration, format_duration

TOOL = "okta"
API = "api/v1"
MAX_VERIFY = timedelta(minutes=10)
LOG_LOOKBACK = timedelta(days=1)  # how far back a retried step looks for its own session clear
MAX_MESSAGE = 200


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token_scheme: str | None = Field(
        "SSWS",
        pattern=r"^[A-Za-z][A-Za-z0-9-]{0,31}$",
        description="Put before the token of a `header` auth (Okta API tokens: `Authorization: SSWS <token>`); "
        "null sends the token as it is.",
    )
    poll_seconds: float = Field(1.0, gt=0, le=30, description="How often a user is read back while a change settles.")


class UserArgs(ConnectorArgs):
    user: str = Field(min_length=1, max_length=256, description="The Okta user's id, login or login shortname.")

    @field_validator("user")
    @classmethod
    def _one_segment(cls, value: str) -> str:
        value = value.strip()
        # Percent-encoding keeps any name one path segment, but a bare `.` or `..` is resolved away by URL rules.
        if value in ("", ".", "..") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValueError("not an Okta user id or login")
        return value


class LifecycleArgs(UserArgs):
    verify_within: Duration = Field(
        timedelta(seconds=60), description="How long the new status may take to show before the step fails."
    )

    @field_validator("verify_within")
    @classmethod
    def _bounded(cls, value: timedelta) -> timedelta:
        if value > MAX_VERIFY:
            raise ValueError(f"must be at most {format_duration(MAX_VERIFY)}")
        return value


class ClearSessionsArgs(UserArgs):
    oauth_tokens: bool = Field(True, description="Also revoke the OIDC/OAuth access and refresh tokens issued to it.")


@dataclass(frozen=True)
class OktaUser:
    id: str
    login: str
    status: str
    transitioning_to: str | None


@dataclass(frozen=True)
class _Transition:
    verb: str
    before: str
    after: str
    undo: str | None


class _Okta:
    """One action's session with the org: its client, the request headers, and Okta's answers classified."""

    def __init__(self, connection: Connection, client: httpx.AsyncClient, context: CallContext) -> None:
        self.connection = connection
        self.client = client
        self.options = Options.model_validate(connection.options)
        self.user_agent = user_agent(context.key)
        self._secrets: set[str] = set()

    async def request(
        self, method: str, path: str, *, params: dict[str, str] | None = None, allow: tuple[int, ...] = ()
    ) -> httpx.Response:
        """Okta's answer: 2xx, or a status in `allow`; anything else raised as a refusal or a failure to retry."""
        url = target_url(self.connection, f"{API}/{path}")
        what = f"okta {method} /{API}/{path.split('?')[0]} ({self.connection.name})"
        headers = {"Accept": "application/json", "User-Agent": self.user_agent, **await self._credentials()}
        with transport_failures(what):
            response = await self.client.request(method, url, params=params, headers=headers)
        status = response.status_code
        if 200 <= status < 300 or status in allow:
            return response
        said = self._scrub(f"{what}: {status} {error_summary(response)}".rstrip())
        if status == 429:
            wait = retry_after(response)
            raise ConnectorUnavailable(f"{said} (rate limited{_reset_in(wait)})", retry_after=wait)
        if status >= 500 or status == 408:
            raise ConnectorUnavailable(said, retry_after=retry_after(response))
        if status == 401:
            raise ConnectorRejected(f"{said} (Okta refused the connection's API token)")
        raise ConnectorRejected(said)

    async def _credentials(self) -> dict[str, str]:
        headers = await credentials(self.client, self.connection)
        auth, scheme = self.connection.auth, self.options.token_scheme
        if auth is not None and auth.type == "header" and scheme and auth.header in headers:
            token = headers[auth.header]
            self._secrets.add(token)
            if not token.startswith(f"{scheme} "):  # a secret stored with its scheme already is sent as it is
                headers[auth.header] = f"{scheme} {token}"
        self._secrets.update(headers.values())
        return headers

    def _scrub(self, text: str) -> str:
        """Okta does not echo credentials, but a message is kept in history: belt and braces."""
        for secret in self._secrets:
            text = text.replace(secret, "[credential]")
        return text

    async def user(self, user: str) -> OktaUser:
        body = json_object(await self.request("GET", f"users/{segment(user)}"))
        profile = as_dict(body.get("profile"))
        try:
            return OktaUser(
                id=str(body["id"]),
                login=str(profile.get("login") or body["id"]),
                status=str(body["status"]),
                transitioning_to=body.get("transitioningToStatus") or None,
            )
        except KeyError:
            raise ConnectorUnavailable(f"okta GET user {user!r} ({self.connection.name}): no id or status") from None

    async def settled(self, user: OktaUser, status: str, within: timedelta, verb: str) -> OktaUser:
        """The user read back until it shows `status` with no transition pending; ConnectorUnavailable after
        `within` (the step is retried, and the retry finds what Okta did by then)."""
        deadline = time.monotonic() + within.total_seconds()
        while True:
            user = await self.user(user.id)
            if user.status == status and user.transitioning_to is None:
                return user
            left = deadline - time.monotonic()
            if left <= 0:
                shown = user.status + (f" (changing to {user.transitioning_to})" if user.transitioning_to else "")
                raise ConnectorUnavailable(
                    f"okta {verb} {user.login}: Okta still shows {shown} after {format_duration(within)}"
                )
            await asyncio.sleep(min(self.options.poll_seconds, left))

    async def own_session_clear(self, user: OktaUser) -> dict[str, Any] | None:
        """This step's earlier `user.session.clear` of the user in the System Log, if the log shows it."""
        since = (datetime.now(UTC) - LOG_LOOKBACK).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        query = f'eventType eq "user.session.clear" and target.id eq {json.dumps(user.id)}'
        try:
            events = json_objects(await self.request("GET", "logs", params={"since": since, "filter": query,
                                                                          "limit": "100"}))  # fmt: skip
        except ConnectorError:
            return None  # unreadable (a token without log access): clearing again leaves the same state
        for event in events:
            agent = as_dict(as_dict(event.get("client")).get("userAgent")).get("rawUserAgent")
            if agent == self.user_agent and as_dict(event.get("outcome")).get("result") == "SUCCESS":
                return event
        return None


def segment(user: str) -> str:
    """The user as exactly one path segment: `/`, `#`, `?` and `%` in a name cannot reach another endpoint."""
    return quote(user, safe="@")


def user_agent(key: str) -> str:
    """Our User-Agent, carrying the step's key: Okta's System Log records it with every event we cause."""
    printable = "".join(c for c in key if 0x20 <= ord(c) < 0x7F)[:200]
    return f"xorb-orchestrator (step {printable})"


def error_summary(response: httpx.Response) -> str:
    """Okta's error object as `E0000007 Not found: ...` (its errorCode and errorSummary), bounded."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    return f"{body.get('errorCode', '')} {body.get('errorSummary', '')}".strip()[:MAX_MESSAGE]


def _reset_in(wait: float | None) -> str:
    """Okta says when its rate limit resets as a UTC epoch second (X-Rate-Limit-Reset), read by `retry_after`."""
    return "" if wait is None else f"; Okta's limit resets in {wait:.0f}s"


def _org(connection: Connection) -> None:
    if connection.url is None:
        raise ConnectorRejected(f"connection {connection.name} has no url (the Okta org, https://<org>.okta.com)")


SUSPENSION = _Transition("suspend", before="ACTIVE", after="SUSPENDED", undo="okta.unsuspend_user")
UNSUSPENSION = _Transition("unsuspend", before="SUSPENDED", after="ACTIVE", undo=None)


async def suspend_user(connection: Connection, args: LifecycleArgs, context: CallContext) -> Outcome:
    return await _lifecycle(SUSPENSION, connection, args, context)


async def unsuspend_user(connection: Connection, args: LifecycleArgs, context: CallContext) -> Outcome:
    return await _lifecycle(UNSUSPENSION, connection, args, context)


async def _lifecycle(move: _Transition, connection: Connection, args: LifecycleArgs, context: CallContext) -> Outcome:
    _org(connection)
    now = datetime.now(UTC)
    request_id = None
    async with client_for(connection) as client:
        okta = _Okta(connection, client, context)
        user = await okta.user(args.user)
        if user.transitioning_to is not None:
            raise ConnectorUnavailable(
                f"okta {move.verb} {user.login}: Okta is changing it from {user.status} to {user.transitioning_to}"
            )
        repeated = user.status == move.after
        if not repeated:
            if user.status != move.before:
                raise ConnectorRejected(
                    f"okta {move.verb} {user.login}: the user is {user.status}; Okta can {move.verb} only users "
                    f"that are {move.before}"
                )
            path = f"users/{segment(user.id)}/lifecycle/{move.verb}"
            response = await okta.request("POST", path, allow=(400,))
            if response.status_code == 400:
                # Okta refuses a transition from the wrong status: someone changed the user since our read.
                user = await okta.user(user.id)
                if user.status != move.after:
                    raise ConnectorRejected(
                        f"okta {move.verb} {user.login}: Okta refused ({error_summary(response)}); "
                        f"the user is now {user.status}"
                    )
                repeated = True
            else:
                request_id = response.headers.get("x-okta-request-id")
                user = await okta.settled(user, move.after, args.verify_within, move.verb)
    done = f"Okta user {user.login} was already {user.status}" if repeated else f"{move.verb}ed Okta user {user.login}"
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=user.login,
        done=done,
        handle=f"okta user {user.id}",
        at=now,
        verified=Verification(how=f"read the user back (GET /{API}/users/{{id}})", ok=True, detail=user.status),
        undo=UndoCall(action=move.undo, args={"user": user.id, "connection": connection.name}) if move.undo else None,
        repeated=repeated,
    )
    details = {"user": user.id, "login": user.login, "status": user.status, "request_id": request_id}
    return Outcome(details=details, receipt=receipt)


async def clear_sessions(connection: Connection, args: ClearSessionsArgs, context: CallContext) -> Outcome:
    _org(connection)
    now = datetime.now(UTC)
    async with client_for(connection) as client:
        okta = _Okta(connection, client, context)
        user = await okta.user(args.user)  # the sessions endpoint takes the Okta id, not a login
        earlier = await okta.own_session_clear(user) if context.attempt > 1 else None
        if earlier is None:
            params = {"oauthTokens": "true" if args.oauth_tokens else "false"}
            response = await okta.request("DELETE", f"users/{segment(user.id)}/sessions", params=params)
            handle = response.headers.get("x-okta-request-id")
            how, detail = f"Okta's answer to DELETE /{API}/users/{{id}}/sessions", f"{response.status_code}"
        else:
            handle = str(earlier.get("uuid") or "") or None
            how, detail = "this step's user.session.clear in Okta's System Log", str(earlier.get("published", ""))
    tokens = " and its OAuth tokens" if args.oauth_tokens else ""
    done = f"cleared the Okta sessions{tokens} of {user.login}"
    if earlier is not None:
        done = f"the Okta sessions of {user.login} were cleared by this step's earlier attempt"
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=user.login,
        done=done,
        handle=handle,
        at=now,
        verified=Verification(how=how, ok=True, detail=f"{detail} (Okta offers no read of a user's sessions)"),
        repeated=earlier is not None,
    )
    details = {"user": user.id, "login": user.login, "oauth_tokens": args.oauth_tokens, "cleared": earlier is None}
    return Outcome(details=details, receipt=receipt)


async def health(connection: Connection) -> str:
    _org(connection)
    async with client_for(connection) as client:
        okta = _Okta(connection, client, CallContext("health", "", 1))
        await okta.request("GET", "users", params={"limit": "1"})
    return f"the Okta Users API at {connection.url} answers: users are readable with this connection's token"


SUSPEND = ActionSpec(
    name="okta.suspend_user",
    description="Suspend an ACTIVE Okta user (it cannot sign in; groups and apps are kept). A suspended user is "
    "found, not suspended again; the status is read back. Undo: okta.unsuspend_user.",
    args=LifecycleArgs,
    mutating=True,
    undo="okta.unsuspend_user",
    connector=TOOL,
    effect="disable_account",
    target="user",
    target_kind="user",
)
UNSUSPEND = ActionSpec(
    name="okta.unsuspend_user",
    description="Return a SUSPENDED Okta user to ACTIVE (an ACTIVE user is found, not changed); read back.",
    args=LifecycleArgs,
    mutating=True,
    connector=TOOL,
)
CLEAR_SESSIONS = ActionSpec(
    name="okta.clear_sessions",
    description="Sign an Okta user out everywhere: revoke its Okta sessions and (oauth_tokens, default true) its "
    "OAuth tokens. One-way: nothing restores a session.",
    args=ClearSessionsArgs,
    mutating=True,
    one_way=True,
    connector=TOOL,
    effect="sign_out",
    target="user",
    target_kind="user",
)

OKTA = ConnectorType(
    name=TOOL,
    description="Okta Users API (an org URL and an API token by reference): suspend, unsuspend, clear sessions.",
    options=Options,
    actions=[
        ConnectorAction(SUSPEND, suspend_user),
        ConnectorAction(UNSUSPEND, unsuspend_user),
        ConnectorAction(CLEAR_SESSIONS, clear_sessions),
    ],
    health=health,
)
