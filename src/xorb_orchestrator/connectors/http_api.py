"""http: any HTTP API the deployment names as a connection, called with its credentials attached at the moment of
the call — never written in a playbook, so never in Temporal's history, logs, metrics or the cache.

`http.call` {method, path, headers?, json? | body_text?, expected_status?}: the connection's base URL joined with a
relative path that cannot leave it (no scheme, host, `..` or `//`). Authentication by the connection's `auth`:
bearer, basic, a named header, or OAuth2 client credentials (the token is fetched, cached until shortly before
it expires, and fetched again on a 401). 4xx (but 408, 425, 429) are refusals, not retried; 5xx, 408, 425, 429,
timeouts and network errors are retried (a Retry-After is the next attempt's delay). Redirects are not followed.
"""

from __future__ import annotations

import base64
import json
import posixpath
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xorb_orchestrator.connectors.base import (
    CallContext,
    ConnectorAction,
    ConnectorArgs,
    ConnectorRejected,
    ConnectorType,
    ConnectorUnavailable,
    Outcome,
)
from xorb_orchestrator.connectors.connections import Auth, Connection
from xorb_orchestrator.connectors.replies import retry_after, transport_failures
from xorb_orchestrator.infrastructure.secrets import SecretUnavailable, resolve_secret
from xorb_orchestrator.models.receipt import Receipt
from xorb_orchestrator.playbook.actions import ActionSpec

TOOL = "http"
MAX_BODY_BYTES = 64 * 1024  # kept in the step's result (Temporal's history)
RETRYABLE_STATUS = (408, 425, 429)
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TOKEN_EARLY_SECONDS = 60  # an OAuth2 token is fetched again this long before it expires
KEPT_HEADERS = ("content-type", "location", "etag", "retry-after", "x-request-id")


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    health_path: str = Field("", max_length=500, description="A read-only path for `xorb connectors test`.")


class CallArgs(ConnectorArgs):
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    path: str = Field("", max_length=2048, description="Relative to the connection's URL; it cannot leave it.")
    headers: dict[str, str] = Field(default_factory=dict, max_length=50)
    json_body: Any = Field(None, alias="json")
    body_text: str | None = Field(None, max_length=64 * 1024)
    expected_status: list[int] = Field(default_factory=list, max_length=20)

    @field_validator("path")
    @classmethod
    def _relative(cls, path: str) -> str:
        return relative_path(path)

    @field_validator("headers")
    @classmethod
    def _no_credentials(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if name.lower() in ("authorization", "proxy-authorization", "cookie"):
                raise ValueError(f"{name}: credentials come from the connection's auth, never from the playbook")
            if any(c in value for c in "\r\n") or any(c in name for c in "\r\n:"):
                raise ValueError(f"{name[:40]}: a header cannot hold a line break")
        return headers

    @model_validator(mode="after")
    def _one_body(self) -> CallArgs:
        if self.json_body is not None and self.body_text is not None:
            raise ValueError("give json or body_text, not both")
        return self

    def mutating(self) -> bool | None:
        return self.method not in ("GET", "HEAD")


def relative_path(path: str) -> str:
    """A path that stays under the base URL: no scheme or host, no `..`, no backslashes or control characters."""
    if any(ord(c) < 0x20 or c == "\\" for c in path):
        raise ValueError("must not hold control characters or backslashes")
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or path.startswith("//"):
        raise ValueError("must be relative to the connection's URL (no scheme or host)")
    segments = parts.path.split("/")
    if ".." in segments or "." in segments:
        raise ValueError("must not hold '.' or '..' segments")
    return path.lstrip("/")


def target_url(connection: Connection, path: str) -> str:
    assert connection.url is not None
    base = connection.url if connection.url.endswith("/") else connection.url + "/"
    url = urljoin(base, path)
    joined = posixpath.normpath(urlsplit(url).path)
    if not (joined + "/").startswith(urlsplit(base).path):  # belt and braces: relative_path already refused it
        raise ConnectorRejected(f"{path[:80]!r} leaves the connection's URL")
    return url


@dataclass
class _Token:
    value: str
    until: float


_TOKENS: dict[tuple[str, str], _Token] = {}  # (connection, token URL) -> the OAuth2 token, this process only


async def _oauth2_token(client: httpx.AsyncClient, connection: Connection, auth: Auth, *, fresh: bool) -> str:
    assert auth.token_url and auth.client_id and auth.client_secret
    key = (connection.name, auth.token_url)
    cached = _TOKENS.get(key)
    if cached is not None and not fresh and cached.until > time.monotonic():
        return cached.value
    form = {"grant_type": "client_credentials", "client_id": auth.client_id,
            "client_secret": resolve_secret(auth.client_secret)}  # fmt: skip
    if auth.scope:
        form["scope"] = auth.scope
    try:
        response = await client.post(auth.token_url, data=form, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        reason = type(exc).__name__
        raise ConnectorUnavailable(f"the token endpoint of {connection.name} is unreachable: {reason}") from None
    if response.status_code not in (200, 201):  # CrowdStrike answers 201 Created
        error = ConnectorUnavailable if response.status_code >= 500 else ConnectorRejected
        raise error(f"the token endpoint of {connection.name} answered {response.status_code}")
    try:
        body = response.json()
        token, lifetime = str(body["access_token"]), float(body.get("expires_in", 3600))
    except (ValueError, KeyError, TypeError):
        raise ConnectorRejected(f"the token endpoint of {connection.name} answered without an access_token") from None
    _TOKENS[key] = _Token(token, time.monotonic() + max(0.0, lifetime - TOKEN_EARLY_SECONDS))
    return token


async def credentials(client: httpx.AsyncClient, connection: Connection, *, fresh: bool = False) -> dict[str, str]:
    """The request headers the connection's auth calls for, resolved now (never stored on the connection)."""
    auth = connection.auth
    if auth is None:
        return {}
    try:
        if auth.type == "oauth2":
            return {"Authorization": f"Bearer {await _oauth2_token(client, connection, auth, fresh=fresh)}"}
        assert auth.token is not None
        secret = resolve_secret(auth.token)
    except SecretUnavailable as exc:
        raise ConnectorRejected(f"{connection.name}: {exc}") from None
    if auth.type == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    if auth.type == "basic":
        pair = base64.b64encode(f"{auth.username}:{secret}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    assert auth.header is not None
    return {auth.header: secret}


def client_for(connection: Connection) -> httpx.AsyncClient:
    """An HTTP client with the connection's TLS options; redirects are not followed, proxies from the environment
    not used (a connection names where it goes)."""
    tls = connection.tls
    verify: bool | str = tls.ca_file or tls.verify
    cert = (tls.client_cert, tls.client_key) if tls.client_cert and tls.client_key else tls.client_cert
    return httpx.AsyncClient(verify=verify, cert=cert, timeout=TIMEOUT, follow_redirects=False, trust_env=False)


async def call(connection: Connection, args: CallArgs, context: CallContext) -> Outcome:
    if connection.url is None:
        raise ConnectorRejected(f"connection {connection.name} has no url")
    url = target_url(connection, args.path)
    async with client_for(connection) as client:
        response = await _send(client, connection, args, url, context)
        if response.status_code == 401 and connection.auth is not None and connection.auth.type == "oauth2":
            response = await _send(client, connection, args, url, context, fresh=True)  # the token expired early
    return _outcome(connection, args, response)


async def _send(
    client: httpx.AsyncClient,
    connection: Connection,
    args: CallArgs,
    url: str,
    context: CallContext,
    *,
    fresh: bool = False,
) -> httpx.Response:
    # The step instance's key: a tool that honours Idempotency-Key drops a repeated effect.
    headers = {"Idempotency-Key": context.key, **args.headers, **await credentials(client, connection, fresh=fresh)}
    content = args.body_text.encode() if args.body_text is not None else None
    with transport_failures(f"{args.method} {connection.name}/{args.path}"):
        return await client.request(args.method, url, headers=headers, json=args.json_body, content=content)


def _outcome(connection: Connection, args: CallArgs, response: httpx.Response) -> Outcome:
    status = response.status_code
    what = f"{args.method} {connection.name}/{args.path}"
    expected = args.expected_status or None
    ok = status in expected if expected else 200 <= status < 300
    if not ok:
        if status >= 500 or status in RETRYABLE_STATUS:
            wait = retry_after(response)
            said = f"{what}: answered {status}" + (f" (retry after {wait:.0f}s)" if wait is not None else "")
            raise ConnectorUnavailable(said, retry_after=wait)
        raise ConnectorRejected(f"{what}: answered {status}")
    raw = response.content[:MAX_BODY_BYTES]
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode(errors="replace")
    details = {
        "status": status,
        "headers": {k: v for k, v in response.headers.items() if k.lower() in KEPT_HEADERS},
        "body": body,
        "body_truncated": len(response.content) > MAX_BODY_BYTES,
    }
    receipt = None
    if args.mutating():
        receipt = Receipt(
            tool=TOOL,
            connection=connection.name,
            target=args.path or "/",
            done=f"{what} answered {status}",
            handle=response.headers.get("location") or response.headers.get("x-request-id"),
            at=datetime.now(UTC),
        )
    return Outcome(details=details, receipt=receipt)


async def health(connection: Connection) -> str:
    options = Options.model_validate(connection.options)
    outcome = await call(connection, CallArgs(method="GET", path=options.health_path), CallContext("health", "", 1))
    return f"GET {connection.url}{options.health_path} answered {outcome.details['status']}"


CALL = ActionSpec(
    name="http.call",
    description="Call the HTTP API of a connection (XORB_CONNECTORS_FILE) at a path under its URL, with the "
    "connection's credentials attached at call time (never in the playbook). GET and HEAD are read-only.",
    args=CallArgs,
    mutating=True,
    mutating_unless="method is GET or HEAD",
    connector=TOOL,
)

HTTP_API = ConnectorType(
    name=TOOL,
    description="Any HTTP API: base URL, TLS options and credentials by reference (bearer, basic, header, OAuth2).",
    options=Options,
    actions=[ConnectorAction(CALL, call)],
    health=health,
)
