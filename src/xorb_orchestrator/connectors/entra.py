"""entra: disable, enable and sign out Microsoft Entra ID users through Microsoft Graph v1.0.

- `entra.disable_user` {user, verify_within?}: `PATCH /v1.0/users/{id}` `{"accountEnabled": false}`. The user is
  read first (`GET /v1.0/users/{id}?$select=…`): one already disabled is found, not patched again (`repeated`).
  Graph's directory is eventually consistent — a read right after a write may still show the old value — so the
  value is read back until it holds (`verify_within`). Undo: `entra.enable_user` of the user's object id.
  Disabling blocks new sign-ins only; tokens already issued last until they expire: `entra.revoke_sessions`.
- `entra.enable_user` {user}: the same with `{"accountEnabled": true}`.
- `entra.revoke_sessions` {user}: `POST /v1.0/users/{id}/revokeSignInSessions` — one-way. Graph records it as the
  user's `signInSessionsValidFromDateTime`, read back until it moves. A retried step (attempt > 1) that finds it
  moved within the last REPEAT_WINDOW takes that as its own revocation instead of revoking again.

The connection: OAuth2 client credentials (`auth: {type: oauth2, token_url:
https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token, client_id: …, client_secret: "env:…"}`; the scope
defaults to https://graph.microsoft.com/.default) and `url` (default https://graph.microsoft.com; a national cloud's
Graph host otherwise). A user is its object id or userPrincipalName: one path segment (`#EXT#` of a guest encoded),
and a UPN starting with `$` in Graph's `users('$…')` form, as `/users/$…` is read as an OData option (400).
Throttling (429, and 503/504) with Retry-After, timeouts and 5xx are retried (after the wait Graph asks for,
said); other 4xx refused.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
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
    ConnectorRejected,
    ConnectorType,
    ConnectorUnavailable,
    Outcome,
)
from xorb_orchestrator.connectors.connections import Connection
from xorb_orchestrator.connectors.http_api import client_for, credentials, target_url
from xorb_orchestrator.connectors.replies import retry_after, transport_failures
from xorb_orchestrator.models.receipt import Receipt, UndoCall, Verification
from xorb_orchestrator.playbook.actions import ActionSpec
from xorb_orchestrator.playbook.durations import Duration, format_duration

TOOL = "entra"
GRAPH_URL = "https://graph.microsoft.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
SELECT = "id,userPrincipalName,accountEnabled,signInSessionsValidFromDateTime"
MAX_VERIFY = timedelta(minutes=10)
# A retried revoke finds its first attempt's revocation when Graph shows one this recent (attempts of one step are
# minutes apart; a revocation older than this is someone else's, and revoking again is the safe side).
REPEAT_WINDOW = timedelta(minutes=15)
MAX_MESSAGE = 200
_STEP_IDS = uuid.UUID("0f6e8a52-3c1b-4e7a-9a57-6b0c8f1d2e43")  # namespace of our client-request-id values


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    poll_seconds: float = Field(2.0, gt=0, le=30, description="How often a user is read back while a change settles.")


class UserArgs(ConnectorArgs):
    user: str = Field(min_length=1, max_length=256, description="The user's object id or userPrincipalName.")
    verify_within: Duration = Field(
        timedelta(seconds=60), description="How long the change may take to show in Graph before the step fails."
    )

    @field_validator("user")
    @classmethod
    def _one_segment(cls, value: str) -> str:
        value = value.strip()
        if value in ("", ".", "..") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValueError("not an Entra user object id or userPrincipalName")
        return value

    @field_validator("verify_within")
    @classmethod
    def _bounded(cls, value: timedelta) -> timedelta:
        if value > MAX_VERIFY:
            raise ValueError(f"must be at most {format_duration(MAX_VERIFY)}")
        return value


@dataclass(frozen=True)
class EntraUser:
    id: str
    upn: str
    enabled: bool | None
    sessions_valid_from: datetime | None


def user_path(user: str) -> str:
    """`users/<user>` as one path segment; `users('$…')` for a UPN starting with `$` (Graph's documented form)."""
    if user.startswith("$"):
        return f"users('{quote(user.replace(chr(39), chr(39) * 2), safe='@$')}')"
    return f"users/{quote(user, safe='@')}"


def request_id(key: str) -> str:
    """Graph's client-request-id (a GUID) for a step: the same on every attempt, so Graph's logs join them."""
    return str(uuid.uuid5(_STEP_IDS, key))


def _graph(connection: Connection) -> Connection:
    """The connection with Graph's defaults: its URL, and the client-credentials scope Graph needs."""
    auth = connection.auth
    update: dict[str, Any] = {}
    if connection.url is None:
        update["url"] = GRAPH_URL
    if auth is not None and auth.type == "oauth2" and auth.scope is None:
        update["auth"] = auth.model_copy(update={"scope": GRAPH_SCOPE})
    return connection.model_copy(update=update) if update else connection


class _Graph:
    """One action's session with Graph: its client, headers, and Graph's answers classified."""

    def __init__(self, connection: Connection, client: httpx.AsyncClient, context: CallContext) -> None:
        self.connection = _graph(connection)
        self.client = client
        self.options = Options.model_validate(connection.options)
        self.client_request_id = request_id(context.key)

    async def request(self, method: str, path: str, *, body: dict[str, Any] | None = None) -> httpx.Response:
        """Graph's 2xx answer; anything else raised as a refusal or a failure to retry."""
        url = target_url(self.connection, f"v1.0/{path}")
        what = f"entra {method} /v1.0/{path.split('?')[0]} ({self.connection.name})"
        oauth2 = self.connection.auth is not None and self.connection.auth.type == "oauth2"
        for fresh in (False, True):
            headers = {"Accept": "application/json", "client-request-id": self.client_request_id,
                       **await credentials(self.client, self.connection, fresh=fresh)}  # fmt: skip
            with transport_failures(what):
                response = await self.client.request(method, url, json=body, headers=headers)
            if response.status_code != 401 or fresh or not oauth2:
                break  # a 401 with a cached token: it expired early, fetch a fresh one once
        status = response.status_code
        if 200 <= status < 300:
            return response
        said = f"{what}: {status} {graph_error(response)}".rstrip()
        wait = retry_after(response)
        if status == 429 or (status in (503, 504) and wait is not None):
            throttled = f"{said} (Graph is throttling" + (f": retry after {wait:.0f}s)" if wait is not None else ")")
            raise ConnectorUnavailable(throttled, retry_after=wait)
        if status >= 500 or status == 408:
            raise ConnectorUnavailable(said, retry_after=wait)
        if status in (401, 403):
            raise ConnectorRejected(f"{said} (check the app's Graph permissions and the connection's credentials)")
        raise ConnectorRejected(said)

    async def user(self, user: str) -> EntraUser:
        response = await self.request("GET", f"{user_path(user)}?$select={SELECT}")
        try:
            body = response.json()
            valid_from = body.get("signInSessionsValidFromDateTime")
            return EntraUser(
                id=str(body["id"]),
                upn=str(body.get("userPrincipalName") or body["id"]),
                enabled=body.get("accountEnabled"),
                sessions_valid_from=datetime.fromisoformat(valid_from) if valid_from else None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConnectorUnavailable(f"entra GET user {user!r} ({self.connection.name}): no user answered") from None

    async def until(
        self, user: EntraUser, holds: str, check: Callable[[EntraUser], bool], within: timedelta, verb: str
    ) -> EntraUser:
        """The user read back until `check(user)`; ConnectorUnavailable after `within` (the retry finds the effect)."""
        deadline = time.monotonic() + within.total_seconds()
        while True:
            user = await self.user(user.id)
            if check(user):
                return user
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectorUnavailable(
                    f"entra {verb} {user.upn}: Graph does not show {holds} after {format_duration(within)}"
                )
            await asyncio.sleep(min(self.options.poll_seconds, left))


def graph_error(response: httpx.Response) -> str:
    """Graph's error object as `Code: message`, bounded."""
    try:
        error = response.json().get("error", {})
        return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")[:MAX_MESSAGE]
    except (ValueError, AttributeError):
        return ""


async def disable_user(connection: Connection, args: UserArgs, context: CallContext) -> Outcome:
    return await _account(False, connection, args, context)


async def enable_user(connection: Connection, args: UserArgs, context: CallContext) -> Outcome:
    return await _account(True, connection, args, context)


async def _account(enabled: bool, connection: Connection, args: UserArgs, context: CallContext) -> Outcome:
    verb = "enable" if enabled else "disable"
    holds = f"accountEnabled {str(enabled).lower()}"
    now = datetime.now(UTC)
    graph_request = None
    async with client_for(connection) as client:
        graph = _Graph(connection, client, context)
        user = await graph.user(args.user)
        repeated = user.enabled is enabled
        if not repeated:
            response = await graph.request("PATCH", user_path(user.id), body={"accountEnabled": enabled})
            graph_request = response.headers.get("request-id")
            user = await graph.until(user, holds, lambda u: u.enabled is enabled, args.verify_within, verb)
    undo = None if enabled else UndoCall(action=ENABLE.name, args={"user": user.id, "connection": connection.name})
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=user.upn,
        done=f"{verb}d Entra user {user.upn}" if not repeated else f"Entra user {user.upn} was already {verb}d",
        handle=f"entra user {user.id}",
        at=now,
        verified=Verification(how="read the user back (GET /v1.0/users/{id}?$select=…)", ok=True, detail=holds),
        undo=undo,
        repeated=repeated,
    )
    details = {"user": user.id, "upn": user.upn, "account_enabled": enabled, "request_id": graph_request}
    return Outcome(details=details, receipt=receipt)


async def revoke_sessions(connection: Connection, args: UserArgs, context: CallContext) -> Outcome:
    now = datetime.now(UTC)
    graph_request = None
    async with client_for(connection) as client:
        graph = _Graph(connection, client, context)
        user = await graph.user(args.user)
        before = user.sessions_valid_from
        repeated = context.attempt > 1 and before is not None and now - before <= REPEAT_WINDOW
        if not repeated:
            response = await graph.request("POST", f"{user_path(user.id)}/revokeSignInSessions")
            graph_request = response.headers.get("request-id")
            try:
                revoked = response.json().get("value") is True
            except (ValueError, AttributeError):
                revoked = False
            if not revoked:
                raise ConnectorUnavailable(f"entra revoke sessions of {user.upn}: Graph did not answer true")
            user = await graph.until(user, "a new signInSessionsValidFromDateTime",
                                     lambda u: _moved(before, u.sessions_valid_from), args.verify_within,
                                     "revoke sessions")  # fmt: skip
    since = user.sessions_valid_from.isoformat() if user.sessions_valid_from else "?"
    done = f"revoked every sign-in session and refresh token of {user.upn}"
    if repeated:
        done = f"the sessions of {user.upn} were revoked at {since} by this step's earlier attempt"
    receipt = Receipt(
        tool=TOOL,
        connection=connection.name,
        target=user.upn,
        done=done,
        handle=f"entra user {user.id}",
        at=now,
        verified=Verification(how="read signInSessionsValidFromDateTime back", ok=True, detail=f"valid from {since}"),
        repeated=repeated,
    )
    details = {"user": user.id, "upn": user.upn, "sessions_valid_from": since, "request_id": graph_request}
    return Outcome(details=details, receipt=receipt)


def _moved(before: datetime | None, after: datetime | None) -> bool:
    return after is not None and (before is None or after > before)


async def health(connection: Connection) -> str:
    async with client_for(connection) as client:
        graph = _Graph(connection, client, CallContext("health", "", 1))
        await graph.request("GET", "users?$top=1&$select=id")
    return f"Microsoft Graph at {graph.connection.url} answers: the tenant's users are readable"


DISABLE = ActionSpec(
    name="entra.disable_user",
    description="Disable an Entra ID account (accountEnabled false): new sign-ins are blocked; tokens already issued "
    "last until they expire (entra.revoke_sessions). Read back. Undo: entra.enable_user.",
    args=UserArgs,
    mutating=True,
    undo="entra.enable_user",
    connector=TOOL,
    effect="disable_account",
    target="user",
    target_kind="user",
)
ENABLE = ActionSpec(
    name="entra.enable_user",
    description="Enable an Entra ID account again (accountEnabled true); an enabled account is found. Read back.",
    args=UserArgs,
    mutating=True,
    connector=TOOL,
)
REVOKE_SESSIONS = ActionSpec(
    name="entra.revoke_sessions",
    description="Revoke every sign-in session and refresh token of an Entra ID user (it must sign in again "
    "everywhere). One-way: nothing restores a session.",
    args=UserArgs,
    mutating=True,
    one_way=True,
    connector=TOOL,
    effect="sign_out",
    target="user",
    target_kind="user",
)

ENTRA = ConnectorType(
    name=TOOL,
    description="Microsoft Entra ID via Microsoft Graph v1.0 (OAuth2 client credentials): disable, enable, "
    "revoke sessions.",
    options=Options,
    actions=[
        ConnectorAction(DISABLE, disable_user),
        ConnectorAction(ENABLE, enable_user),
        ConnectorAction(REVOKE_SESSIONS, revoke_sessions),
    ],
    health=health,
)
