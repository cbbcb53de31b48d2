"""A local Wazuh server API (4.x) that answers as Wazuh documents it and records every call, with agents whose
firewalls show what active response did.

- `POST /security/user/authenticate` with HTTP basic auth answers `{"data": {"token": <JWT>}, "error": 0}`; the
  JWT carries `exp` (`token_lifetime` seconds, Wazuh's default 900). Wrong user or password: 401. Every other call
  needs `Authorization: Bearer <a token it issued, not expired>` (401 otherwise; `tokens.clear()` revokes all).
- `GET /agents?agents_list=001,002&select=...` answers the agents in `data.affected_items` and unknown ids in
  `data.failed_items` (error 1701), as `{data: {affected_items, total_affected_items, failed_items,
  total_failed_items}, message, error}`.
- `PUT /active-response?agents_list=...` `{"command", "arguments"?, "alert"?}` answers 200 with the agents the
  manager dispatched to (`affected_items`) and the ones it could not (`failed_items`: 1701 unknown, 1707 not
  active); "AR command was sent to all agents" / "... not sent to some agents" / "... not sent to any agent".
  Without agents_list it goes to every agent (Wazuh's default, `broadcasts` counts it). Agent 000 is skipped
  silently, as Wazuh's framework does. The command must match Wazuh's pattern (400 otherwise).
  Each active agent then runs it as 4.2+ agents do, with the srcip from `alert.data.srcip`: `block_script`
  inserts one DROP rule (again each time, like firewall-drop's `iptables -I`), `unblock_script` removes every one.
- `GET /` answers the API's title and version.

`answer_next` queues statuses answered before anything else; `drop_on_dispatch` names agents that disconnect
between the agents read and the dispatch (so the dispatch fails for them).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_COMMAND = re.compile(r"^!?[\w\-.\\/:]+$")


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str] = field(repr=False)


class Wazuh:
    """Start with `start()`, stop with `stop()`; `calls` is every request, `dispatches` every command an agent got,
    `firewall` each agent's DROP rules (one address per rule, duplicates kept)."""

    def __init__(self, user: str, password: str, agents: dict[str, str], block_script: str, unblock_script: str):
        self.user, self.password = user, password
        self.agents = dict(agents)  # id -> status (active, disconnected, pending, never_connected)
        self.block_script, self.unblock_script = block_script, unblock_script
        self.firewall: dict[str, list[str]] = {agent: [] for agent in agents}
        self.dispatches: list[tuple[str, str, str]] = []  # (agent, command, srcip)
        self.broadcasts = 0
        self.token_lifetime = 900
        self.tokens: dict[str, float] = {}  # token -> its expiry (epoch seconds)
        self.calls: list[Call] = []
        self.answer_next: list[int] = []
        self.drop_on_dispatch: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Wazuh:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

    def _answer(self, call: Call) -> tuple[int, Any]:
        with self._lock:
            if self.answer_next:
                status = self.answer_next.pop(0)
                return status, _problem(status, "Injected", "injected")
            if call.path == "/security/user/authenticate" and call.method == "POST":
                return self._authenticate(call.headers.get("Authorization", ""))
            token = call.headers.get("Authorization", "").removeprefix("Bearer ")
            if self.tokens.get(token, 0) <= time.time():
                return 401, _problem(401, "Unauthorized", "Invalid token")
            listed = call.query.get("agents_list", [""])[0]
            wanted = [a for a in listed.split(",") if a] if listed else sorted(self.agents)
            if call.path == "/agents" and call.method == "GET":
                found = [{"id": a, "status": self.agents[a]} for a in wanted if a in self.agents]
                return 200, _affected(found, {1701: [a for a in wanted if a not in self.agents]},
                                      "All selected agents information was returned")  # fmt: skip
            if call.path == "/active-response" and call.method == "PUT":
                if not listed:
                    self.broadcasts += 1
                return self._active_response(wanted, call.body if isinstance(call.body, dict) else {})
            if call.path == "/" and call.method == "GET":
                return 200, {"data": {"title": "Wazuh API REST", "api_version": "4.9.0", "hostname": "wazuh-manager",
                                      "timestamp": "2026-01-01T00:00:00Z"}, "error": 0}  # fmt: skip
            return 404, _problem(404, "Not Found", f"no route for {call.method} {call.path}")

    def _authenticate(self, authorization: str) -> tuple[int, Any]:
        expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        if authorization != f"Basic {expected}":
            return 401, _problem(401, "Unauthorized", "Invalid credentials")
        exp = time.time() + self.token_lifetime
        claims = {"iss": "wazuh", "sub": self.user, "nbf": int(time.time()), "exp": int(exp), "rbac_roles": [1],
                  "jti": uuid.uuid4().hex}  # fmt: skip
        token = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}.c2lnbmF0dXJl"  # not signed: not checked here
        self.tokens[token] = exp
        return 200, {"data": {"token": token}, "error": 0}

    def _active_response(self, wanted: list[str], body: dict[str, Any]) -> tuple[int, Any]:
        command = body.get("command")
        if not isinstance(command, str) or not _COMMAND.match(command):
            return 400, _problem(400, "Bad Request", "'command' is required and must be an active response command")
        srcip = str(((body.get("alert") or {}).get("data") or {}).get("srcip", ""))
        sent: list[str] = []
        failed: dict[int, list[str]] = {1701: [], 1707: []}
        for agent in wanted:
            if agent == "000":
                continue  # the framework queries id!=000: neither sent nor failed
            if agent not in self.agents:
                failed[1701].append(agent)
                continue
            if agent in self.drop_on_dispatch:
                self.agents[agent] = "disconnected"
            if self.agents[agent] != "active":
                failed[1707].append(agent)
                continue
            sent.append(agent)
            self.dispatches.append((agent, command, srcip))
            if command == self.block_script:
                self.firewall[agent].insert(0, srcip)
            elif command == self.unblock_script:
                self.firewall[agent] = [ip for ip in self.firewall[agent] if ip != srcip]
        message = ("AR command was sent to all agents" if sent and not any(failed.values())
                   else "AR command was not sent to some agents" if sent
                   else "AR command was not sent to any agent")  # fmt: skip
        return 200, _affected(sent, failed, message)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                parts = urlsplit(self.path)
                call = Call(self.command, parts.path, parse_qs(parts.query), json.loads(raw) if raw else None,
                            dict(self.headers.items()))  # fmt: skip
                owner.calls.append(call)
                status, answer = owner._answer(call)
                data = json.dumps(answer).encode()
                self.send_response(status)
                kind = "application/json" if status < 400 else "application/problem+json"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


_MESSAGES = {1701: "Agent does not exist", 1707: "Cannot send request, agent is not active"}


def _affected(items: list[Any], failed: dict[int, list[str]], message: str) -> dict[str, Any]:
    failed_items = [{"error": {"code": code, "message": _MESSAGES[code]}, "id": ids} for code, ids in failed.items()
                    if ids]  # fmt: skip
    total_failed = sum(len(ids) for ids in failed.values())
    data = {"affected_items": items, "total_affected_items": len(items), "failed_items": failed_items,
            "total_failed_items": total_failed}  # fmt: skip
    return {"data": data, "message": message, "error": 0 if not total_failed else (2 if items else 1)}


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"title": title, "detail": detail, "error": status}


def _b64(claims: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
