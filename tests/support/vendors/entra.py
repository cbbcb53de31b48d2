"""A local Microsoft Entra tenant: the identity platform's token endpoint and Microsoft Graph v1.0 users, answering
as Microsoft documents them and recording every request.

- `POST /{tenant}/oauth2/v2.0/token` (client credentials; scope `https://graph.microsoft.com/.default`): a bearer
  token, `invalid_client` (401) for a wrong secret, `invalid_scope` (400) for another scope.
- `GET /v1.0/users/{id|userPrincipalName}?$select=…` (only the selected properties), `GET /v1.0/users?$top=`,
  and the `users('$…')` form: a UPN starting with `$` after `/users/` is read as an OData option, 400.
- `PATCH /v1.0/users/{id}` `{"accountEnabled": …}`: 204; 403 `Authorization_RequestDenied` for users in
  `protected` (an app may not disable an administrator).
- `POST /v1.0/users/{id}/revokeSignInSessions`: 200 `{"value": true}`, and signInSessionsValidFromDateTime set to
  now (whole seconds, as Graph writes it).
- Quirks: `lagging_reads` — Graph's directory is eventually consistent, so that many reads after a write still
  show the old values; `throttle` — the next requests answer 429 with Retry-After; `expire_tokens()` — tokens
  issued so far are refused (401 InvalidAuthenticationToken). Every answer carries request-id and echoes
  client-request-id.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SCOPE = "https://graph.microsoft.com/.default"
_QUOTED = re.compile(r"^users\('((?:[^']|'')*)'\)$")


@dataclass
class Request:
    method: str
    path: str  # as sent: still percent-encoded
    raw_query: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str] = field(repr=False)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message,
                      "innerError": {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                                     "request-id": str(uuid.uuid4())}}}  # fmt: skip


class EntraTenant:
    def __init__(self, tenant: str, client_id: str, client_secret: str) -> None:
        self.tenant, self.client_id, self.client_secret = tenant, client_id, client_secret
        self.users: dict[str, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self.tokens_issued: list[str] = []
        self._valid: set[str] = set()
        self.throttle = 0
        self.lagging_reads = 0
        self.protected: set[str] = set()
        self._stale: dict[str, tuple[dict[str, Any], int]] = {}  # user id -> (values before the write, reads left)
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                with owner._lock:
                    status, body, extra = owner._answer(self, raw)
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                headers = {"request-id": str(uuid.uuid4()),
                           "client-request-id": self.headers.get("client-request-id", ""), **extra}  # fmt: skip
                if data:
                    headers["Content-Type"] = "application/json;odata.metadata=minimal;charset=utf-8"
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.token_url = f"{self.url}/{tenant}/oauth2/v2.0/token"

    def start(self) -> EntraTenant:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_user(self, object_id: str, upn: str, *, enabled: bool = True) -> None:
        self.users[object_id] = {"id": object_id, "userPrincipalName": upn, "accountEnabled": enabled,
                                 "signInSessionsValidFromDateTime": "2024-01-02T03:04:05Z"}  # fmt: skip

    def expire_tokens(self) -> None:
        self._valid.clear()

    def graph_calls(self) -> list[tuple[str, str]]:
        """Each Graph request (not the token endpoint's) as (method, path and query as sent)."""
        return [(r.method, r.path + (f"?{r.raw_query}" if r.raw_query else "")) for r in self.requests
                if r.path.startswith("/v1.0/")]  # fmt: skip

    def _answer(self, handler: BaseHTTPRequestHandler, raw: str) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(handler.path)
        body: Any = json.loads(raw) if raw and "json" in handler.headers.get("Content-Type", "") else raw
        request = Request(handler.command, parts.path, parts.query, parse_qs(parts.query), body,
                          dict(handler.headers.items()))  # fmt: skip
        self.requests.append(request)
        if parts.path == f"/{self.tenant}/oauth2/v2.0/token" and handler.command == "POST":
            return self._token(parse_qs(raw))
        if self.throttle:
            self.throttle -= 1
            return 429, _error("TooManyRequests", "Too many requests. Please try again later."), {"Retry-After": "7"}
        token = handler.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self._valid:
            return 401, _error("InvalidAuthenticationToken", "Access token has expired or is not yet valid."), {}
        if not parts.path.startswith("/v1.0/"):
            return 400, _error("BadRequest", "Invalid version."), {}
        status, answer = self._graph(request, parts.path.removeprefix("/v1.0/"))
        return status, answer, {}

    def _token(self, form: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        def one(name: str) -> str:
            return form.get(name, [""])[0]

        if one("grant_type") != "client_credentials" or one("client_id") != self.client_id:
            return 400, {"error": "unauthorized_client", "error_description": "AADSTS700016"}, {}
        if one("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret"}, {}
        if one("scope") != SCOPE:
            return 400, {"error": "invalid_scope", "error_description": "AADSTS1002012: invalid scope"}, {}
        token = "eyJ0eXAi." + uuid.uuid4().hex
        self.tokens_issued.append(token)
        self._valid.add(token)
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}, {}

    def _graph(self, request: Request, path: str) -> tuple[int, Any]:
        if path == "users" and request.method == "GET":
            top = int(request.query.get("$top", ["100"])[0])
            return 200, {"value": [self._selected(u, request) for u in list(self.users.values())[:top]]}
        quoted = _QUOTED.match(unquote(path.split("/")[0]))
        if quoted:
            key, rest = quoted[1].replace("''", "'"), path.split("/")[1:]
        else:
            segments = path.split("/")
            if segments[0] != "users" or len(segments) < 2:
                return 400, _error("BadRequest", f"Resource not found for the segment '{segments[0]}'.")
            key, rest = unquote(segments[1]), segments[2:]
            if key.startswith("$"):  # OData reads /users/$x as a system query option
                return 400, _error("BadRequest", f"Unrecognized query option '{key}'.")
        user = self.users.get(key) or next((u for u in self.users.values() if u["userPrincipalName"] == key), None)
        if user is None:
            return 404, _error("Request_ResourceNotFound", f"Resource '{key}' does not exist or one of its queried "
                                                           "reference-property objects are not present.")  # fmt: skip
        if not rest and request.method == "GET":
            return 200, self._selected(self._read(user), request)
        if not rest and request.method == "PATCH":
            return self._patch(user, request.body)
        if rest == ["revokeSignInSessions"] and request.method == "POST":
            self._write(user, signInSessionsValidFromDateTime=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            return 200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean", "value": True}
        return 405, _error("Request_BadRequest", "The requested method is not supported.")

    def _patch(self, user: dict[str, Any], body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or set(body) - {"accountEnabled"}:
            return 400, _error("Request_BadRequest", "Invalid property in the request body.")
        if user["id"] in self.protected:
            return 403, _error("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        self._write(user, **body)
        return 204, None

    def _write(self, user: dict[str, Any], **values: Any) -> None:
        if self.lagging_reads:
            self._stale[user["id"]] = (dict(user), self.lagging_reads)
        user.update(values)

    def _read(self, user: dict[str, Any]) -> dict[str, Any]:
        stale = self._stale.pop(user["id"], None)
        if stale is None:
            return user
        before, reads = stale
        if reads > 1:
            self._stale[user["id"]] = (before, reads - 1)
        return before

    @staticmethod
    def _selected(user: dict[str, Any], request: Request) -> dict[str, Any]:
        select = request.query.get("$select", [""])[0]
        shown = {k: v for k, v in user.items() if not select or k in select.split(",")}
        return {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity", **shown}
