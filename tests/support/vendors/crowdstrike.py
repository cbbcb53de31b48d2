"""A local CrowdStrike Falcon API that answers as CrowdStrike documents it and records every call.

- `POST /oauth2/token` (form: client_id, client_secret) answers 201 Created with `{access_token, token_type,
  expires_in: 1799}`; a wrong client 401. Every other call needs `Authorization: Bearer <a token it issued>` (401).
- `POST /devices/entities/devices-actions/v2?action_name=contain|lift_containment` with `{"ids": [...]}` answers
  202 with `{"meta", "resources": [{"id", "path"}], "errors": []}` and sets the host pending
  (`containment_pending` / `lift_containment_pending`): containment is last-write-wins, a later action replaces an
  earlier one. An unknown host 404, an unknown action_name 400.
- `GET /devices/entities/devices/v2?ids=...` answers the hosts (`device_id`, `hostname`, `status`); a pending host
  settles (`contained` / `normal`) after `settle_after` reads, or never when it is None. No known host: 404.
- `GET /devices/queries/devices/v1?limit=` answers device ids with `meta.pagination.total`.

`answer_next` queues statuses (with headers) answered before anything else, e.g. a 429 with X-RateLimit-RetryAfter.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PENDING = {"contain": "containment_pending", "lift_containment": "lift_containment_pending"}
SETTLED = {"containment_pending": "contained", "lift_containment_pending": "normal"}


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str] = field(repr=False)


class Falcon:
    """Start with `start()`, stop with `stop()`; `calls` is every request, `actions` every host action done."""

    def __init__(self, client_id: str, client_secret: str, hosts: dict[str, str]) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.hostnames = dict(hosts)  # device id -> hostname
        self.status = {device: "normal" for device in hosts}
        self.reads_pending = {device: 0 for device in hosts}
        self.settle_after: int | None = 2
        self.calls: list[Call] = []
        self.actions: list[tuple[str, str]] = []  # (action_name, device id), in order
        self.tokens: set[str] = set()
        self.answer_next: list[tuple[int, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Falcon:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def _answer(self, call: Call) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if self.answer_next:
                status, headers = self.answer_next.pop(0)
                return status, _errors(status, "injected"), headers
            if call.path == "/oauth2/token" and call.method == "POST":
                form = call.body if isinstance(call.body, dict) else {}
                if form.get("client_id") != [self.client_id] or form.get("client_secret") != [self.client_secret]:
                    return 401, _errors(401, "access denied, invalid client"), {}
                token = uuid.uuid4().hex
                self.tokens.add(token)
                return 201, {"access_token": token, "token_type": "bearer", "expires_in": 1799}, {}
            if call.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
                return 401, _errors(401, "access denied, authorization failed"), {}
            if call.path == "/devices/entities/devices-actions/v2" and call.method == "POST":
                return self._act(call)
            if call.path == "/devices/entities/devices/v2" and call.method == "GET":
                return self._read(call.query.get("ids", []))
            if call.path == "/devices/queries/devices/v1" and call.method == "GET":
                limit = int(call.query.get("limit", ["100"])[0])
                pagination = {"offset": 0, "limit": limit, "total": len(self.status)}
                return 200, {"meta": {"pagination": pagination}, "resources": sorted(self.status)[:limit],
                             "errors": []}, {}  # fmt: skip
            return 404, _errors(404, f"no route for {call.method} {call.path}"), {}

    def _act(self, call: Call) -> tuple[int, Any, dict[str, str]]:
        action = call.query.get("action_name", [""])[0]
        if action not in PENDING:
            return 400, _errors(400, f"invalid action_name {action!r}"), {}
        ids = call.body.get("ids") if isinstance(call.body, dict) else None
        if not isinstance(ids, list) or not ids:
            return 400, _errors(400, "ids is required"), {}
        unknown = [device for device in ids if device not in self.status]
        if unknown:
            return 404, _errors(404, f"device(s) not found: {', '.join(map(str, unknown))}"), {}
        for device in ids:
            self.status[device] = PENDING[action]  # last write wins
            self.reads_pending[device] = 0
            self.actions.append((action, device))
        resources = [{"id": device, "path": f"/devices/entities/devices/v2?ids={device}"} for device in ids]
        return 202, {"meta": _meta(), "resources": resources, "errors": []}, {}

    def _read(self, ids: list[str]) -> tuple[int, Any, dict[str, str]]:
        found = []
        for device in ids:
            if device not in self.status:
                continue
            if self.status[device] in SETTLED:
                self.reads_pending[device] += 1
                if self.settle_after is not None and self.reads_pending[device] > self.settle_after:
                    self.status[device] = SETTLED[self.status[device]]
            found.append({"device_id": device, "hostname": self.hostnames[device], "status": self.status[device],
                          "platform_name": "Windows"})  # fmt: skip
        if not found:
            return 404, {"meta": _meta(), "resources": [], "errors": [{"code": 404, "message": "Not Found"}]}, {}
        return 200, {"meta": _meta(), "resources": found, "errors": []}, {}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                kind = self.headers.get("Content-Type", "")
                body: Any = parse_qs(raw) if "form-urlencoded" in kind else (json.loads(raw) if raw else None)
                parts = urlsplit(self.path)
                call = Call(self.command, parts.path, parse_qs(parts.query), body, dict(self.headers.items()))
                owner.calls.append(call)
                status, answer, headers = owner._answer(call)
                data = json.dumps(answer).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _meta() -> dict[str, Any]:
    return {"query_time": 0.01, "powered_by": "device-api", "trace_id": uuid.uuid4().hex}


def _errors(status: int, message: str) -> dict[str, Any]:
    return {"meta": _meta(), "resources": [], "errors": [{"code": status, "message": message}]}
