"""A local Okta org answering as Okta's Management API documents it, recording every request.

- Users: `GET /api/v1/users?limit=` and `GET /api/v1/users/{id|login}` (the user object: id, status,
  transitioningToStatus while an asynchronous change runs, profile.login).
- User Lifecycle: `POST /api/v1/users/{id|login}/lifecycle/suspend` (only from ACTIVE) and `/unsuspend` (only from
  SUSPENDED): 200 with an empty body, 400 `E0000001` from any other status — the quirk the connector must meet.
- User Sessions: `DELETE /api/v1/users/{userId}/sessions?oauthTokens=` (the Okta id only): 204, and a
  `user.session.clear` event in the System Log with the request's User-Agent as `client.userAgent.rawUserAgent`.
- System Log: `GET /api/v1/logs?since=&filter=&limit=` with `eventType eq "…"` and `target.id eq "…"` filters.
- `Authorization: SSWS <token>` or 401 `E0000011`; every answer carries X-Okta-Request-Id and the X-Rate-Limit-*
  headers; `throttle` answers the next requests 429 `E0000047` with X-Rate-Limit-Reset (UTC epoch seconds).

A path is split into segments before they are percent-decoded, as a real server routes, so `%2F` in a user name
stays inside that name.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_FILTER = re.compile(r'^\s*([\w.]+)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*$')


@dataclass
class Request:
    method: str
    path: str  # as sent: still percent-encoded
    query: dict[str, list[str]]
    headers: dict[str, str] = field(repr=False)


def _error(code: str, summary: str) -> dict[str, Any]:
    return {"errorCode": code, "errorSummary": summary, "errorLink": code, "errorId": uuid.uuid4().hex[:24],
            "errorCauses": []}  # fmt: skip


class OktaOrg:
    """The org's users and System Log; knobs for the quirks: `throttle`, `outage`, `settle_reads`, `after_read`."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.users: dict[str, dict[str, Any]] = {}
        self.logs: list[dict[str, Any]] = []
        self.requests: list[Request] = []
        self.throttle = 0  # the next N requests answer 429
        self.outage = 0  # the next N requests answer 500
        self.forbid_logs = False  # a token whose admin cannot read the System Log: 403
        self.settle_reads = 0  # a lifecycle change shows as transitioningToStatus for this many reads
        self.after_read: Callable[[], None] | None = None  # runs once, after the next user read (another admin)
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                with owner._lock:
                    status, body = owner._answer(self)
                    rest = owner.after_read if self.command == "GET" and "/users/" in self.path else None
                    if rest is not None:
                        owner.after_read = None
                        rest()
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("X-Okta-Request-Id", uuid.uuid4().hex[:20])
                reset = str(int(time.time()) + 42)
                remaining = "0" if status == 429 else "599"
                for name, value in (("Limit", "600"), ("Remaining", remaining), ("Reset", reset)):
                    self.send_header(f"X-Rate-Limit-{name}", value)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> OktaOrg:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add_user(self, user_id: str, login: str, status: str = "ACTIVE") -> None:
        self.users[user_id] = {"id": user_id, "status": status, "transitioningToStatus": None,
                               "statusChanged": None, "profile": {"login": login, "email": login}}  # fmt: skip

    def status(self, user_id: str) -> str:
        return str(self.users[user_id]["status"])

    def calls(self) -> list[tuple[str, str]]:
        """Each request as (method, path as sent)."""
        return [(r.method, r.path) for r in self.requests]

    def _find(self, key: str, *, by_login: bool = True) -> dict[str, Any] | None:
        if key in self.users:
            return self.users[key]
        if by_login:
            return next((u for u in self.users.values() if u["profile"]["login"] == key), None)
        return None

    def _answer(self, handler: BaseHTTPRequestHandler) -> tuple[int, Any]:
        parts = urlsplit(handler.path)
        request = Request(handler.command, parts.path, parse_qs(parts.query), dict(handler.headers.items()))
        self.requests.append(request)
        if self.throttle:
            self.throttle -= 1
            return 429, _error("E0000047", "API call exceeded rate limit due to too many requests.")
        if self.outage:
            self.outage -= 1
            return 500, _error("E0000009", "Internal Server Error")
        if handler.headers.get("Authorization") != f"SSWS {self.token}":
            return 401, _error("E0000011", "Invalid token provided")
        segments = [unquote(s) for s in parts.path.split("/")[1:]]
        if segments[:2] != ["api", "v1"]:
            return 404, _error("E0000007", f"Not found: Resource not found: {parts.path}")
        return self._route(request, segments[2:])

    def _route(self, request: Request, route: list[str]) -> tuple[int, Any]:
        method = request.method
        if route == ["users"] and method == "GET":
            limit = int(request.query.get("limit", ["200"])[0])
            return 200, [self._shown(u) for u in list(self.users.values())[:limit]]
        if len(route) == 2 and route[0] == "users" and method == "GET":
            user = self._find(route[1])
            return (200, self._read(user)) if user else self._missing(route[1])
        if len(route) == 4 and route[0] == "users" and route[2] == "lifecycle" and method == "POST":
            user = self._find(route[1])
            return self._lifecycle(user, route[3]) if user else self._missing(route[1])
        if len(route) == 3 and route[0] == "users" and route[2] == "sessions" and method == "DELETE":
            user = self._find(route[1], by_login=False)  # documented: the id of an existing user
            return self._clear(user, request) if user else self._missing(route[1])
        if route == ["logs"] and method == "GET":
            return self._logs(request)
        return 404, _error("E0000007", f"Not found: Resource not found: {request.path}")

    def _missing(self, key: str) -> tuple[int, Any]:
        return 404, _error("E0000007", f"Not found: Resource not found: {key} (User)")

    def _read(self, user: dict[str, Any]) -> dict[str, Any]:
        pending = user.pop("_pending", None)
        if pending is not None:
            target, reads = pending
            if reads <= 0:
                user["status"], user["transitioningToStatus"] = target, None
            else:
                user["_pending"] = (target, reads - 1)
        return self._shown(user)

    @staticmethod
    def _shown(user: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in user.items() if not k.startswith("_")}

    def _lifecycle(self, user: dict[str, Any], verb: str) -> tuple[int, Any]:
        moves = {"suspend": ("ACTIVE", "SUSPENDED"), "unsuspend": ("SUSPENDED", "ACTIVE")}
        if verb not in moves:
            return 404, _error("E0000007", f"Not found: Resource not found: {verb}")
        before, after = moves[verb]
        if user["status"] != before or user.get("_pending"):
            cause = f"Cannot {verb} a user whose status is {user['status']}"
            return 400, _error("E0000001", f"Api validation failed: {cause}")
        user["statusChanged"] = datetime.now(UTC).isoformat()
        if self.settle_reads:
            user["transitioningToStatus"] = after
            user["_pending"] = (after, self.settle_reads)
        else:
            user["status"] = after
        return 200, None

    def _clear(self, user: dict[str, Any], request: Request) -> tuple[int, Any]:
        now = datetime.now(UTC)
        self.logs.append({
            "uuid": str(uuid.uuid4()),
            "published": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "eventType": "user.session.clear",
            "displayMessage": "Clear user session",
            "client": {"userAgent": {"rawUserAgent": request.headers.get("User-Agent", "")}},
            "outcome": {"result": "SUCCESS"},
            "target": [{"id": user["id"], "type": "User", "alternateId": user["profile"]["login"]}],
            "debugContext": {"debugData": {"requestUri": request.path}},
        })  # fmt: skip
        return 204, None

    def _logs(self, request: Request) -> tuple[int, Any]:
        if self.forbid_logs:
            return 403, _error("E0000006", "You do not have permission to perform the requested action")
        events = list(self.logs)
        expression = request.query.get("filter", [""])[0]
        for clause in filter(None, expression.split(" and ")):
            match = _FILTER.match(clause)
            if match is None:
                return 400, _error("E0000031", f"Invalid search criteria: {clause}")
            attribute, value = match[1], json.loads(f'"{match[2]}"')
            if attribute == "eventType":
                events = [e for e in events if e["eventType"] == value]
            elif attribute == "target.id":
                events = [e for e in events if any(t["id"] == value for t in e["target"])]
            else:
                return 400, _error("E0000031", f"Invalid search criteria: {attribute}")
        since = request.query.get("since", [""])[0]
        if since:
            events = [e for e in events if e["published"] >= since]
        return 200, events[: int(request.query.get("limit", ["100"])[0])]
