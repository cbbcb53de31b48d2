"""A local Microsoft Defender for Endpoint API (and its Entra token endpoint) that answers as Microsoft documents
it and records every call.

- `POST /<tenant>/oauth2/v2.0/token` (form: grant_type=client_credentials, client_id, client_secret, scope
  https://api.securitycenter.microsoft.com/.default) answers 200 `{token_type, expires_in, access_token}`; a wrong
  client 401 `invalid_client`. Every API call needs `Authorization: Bearer <a token it issued>` (401).
- `POST /api/machines/{id}/isolate` `{"Comment", "IsolationType": "Full"|"Selective"}` and `/unisolate`
  `{"Comment"}` answer 201 with a machine action (`Pending`); 400 `ActiveRequestAlreadyExists` while an isolate or
  unisolate of the machine is still Pending or InProgress; 400 `InvalidRequestBody` without a Comment; 404
  `ResourceNotFound` for an unknown machine.
- `GET /api/machineactions/{id}`: each read moves the action on — Pending, InProgress, then (after `settle_after`
  reads; never when None) `outcome` (Succeeded by default; an isolation that succeeds isolates the machine).
- `GET /api/machineactions?$filter=machineId eq '<id>'` answers `{"@odata.context", "value": [...]}`; an action id
  in `unlisted` is left out of the next listing only (the list lags behind a new action).
- `GET /api/machines?$top=` answers the machines.

`answer_next` queues statuses (with headers) answered before anything else, e.g. a 429 with Retry-After.
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
from urllib.parse import parse_qs, urlsplit

SCOPE = "https://api.securitycenter.microsoft.com/.default"
RUNNING = ("Pending", "InProgress")
_FILTER = re.compile(r"^machineId eq '([0-9a-f]{40})'$")


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str] = field(repr=False)


class Defender:
    """Start with `start()`, stop with `stop()`; `calls` is every request, `actions` every machine action."""

    def __init__(self, tenant: str, client_id: str, client_secret: str, machines: dict[str, str]) -> None:
        self.tenant, self.client_id, self.client_secret = tenant, client_id, client_secret
        self.machines = dict(machines)  # machine id -> computerDnsName
        self.isolated: dict[str, bool] = {machine: False for machine in machines}
        self.actions: list[dict[str, Any]] = []
        self.reads: dict[str, int] = {}
        self.settle_after: int | None = 2
        self.outcome = "Succeeded"
        self.unlisted: set[str] = set()
        self.calls: list[Call] = []
        self.tokens: set[str] = set()
        self.answer_next: list[tuple[int, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.token_url = f"{self.url}/{tenant}/oauth2/v2.0/token"

    def start(self) -> Defender:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def requests_of(self, kind: str) -> list[dict[str, Any]]:
        """The machine actions of a type (Isolate, Unisolate) that requests created, in order."""
        return [a for a in self.actions if a["type"] == kind]

    def add_action(self, machine: str, kind: str, status: str, comment: str = "by hand") -> dict[str, Any]:
        """A machine action made elsewhere (the portal, an earlier attempt that died before its answer)."""
        with self._lock:
            return self._new_action(machine, kind, "Full" if kind == "Isolate" else None, comment, status)

    def _new_action(self, machine: str, kind: str, scope: str | None, comment: str, status: str) -> dict[str, Any]:
        now, action_id = datetime.now(UTC).isoformat().replace("+00:00", "Z"), str(uuid.uuid4())
        action: dict[str, Any] = {"id": action_id, "type": kind, "scope": scope, "requestor": self.client_id,
                  "requestorComment": comment, "status": status, "machineId": machine,
                  "computerDnsName": self.machines[machine], "creationDateTimeUtc": now,
                  "lastUpdateDateTimeUtc": now, "cancellationRequestor": None, "cancellationComment": None,
                  "cancellationDateTimeUtc": None, "errorHResult": 0, "relatedFileInfo": None}  # fmt: skip
        self.actions.append(action)
        self.reads[action_id] = 0
        if status == "Succeeded":
            self.isolated[machine] = kind == "Isolate"
        return action

    def _answer(self, call: Call) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if self.answer_next:
                status, headers = self.answer_next.pop(0)
                return status, _error("TooManyRequests" if status == 429 else "InternalError", "injected"), headers
            if call.path == f"/{self.tenant}/oauth2/v2.0/token" and call.method == "POST":
                return self._token(call.body if isinstance(call.body, dict) else {})
            if call.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
                return 401, _error("Unauthorized", "Authorization token is missing or invalid"), {}
            if m := re.fullmatch(r"/api/machines/([^/]+)/(isolate|unisolate)", call.path):
                return self._request_action(m[1], m[2], call.body if isinstance(call.body, dict) else {})
            if m := re.fullmatch(r"/api/machineactions/([^/]+)", call.path):
                return self._read_action(m[1])
            if call.path == "/api/machineactions" and call.method == "GET":
                return self._list_actions(call.query.get("$filter", [""])[0])
            if call.path == "/api/machines" and call.method == "GET":
                top = int(call.query.get("$top", ["10000"])[0])
                value = [{"id": m, "computerDnsName": name} for m, name in sorted(self.machines.items())][:top]
                return 200, {"@odata.context": f"{self.url}/api/$metadata#Machines", "value": value}, {}
            return 404, _error("ResourceNotFound", f"no route for {call.method} {call.path}"), {}

    def _token(self, form: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        if form.get("client_id") != [self.client_id] or form.get("client_secret") != [self.client_secret]:
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."}, {}
        if form.get("grant_type") != ["client_credentials"] or form.get("scope") != [SCOPE]:
            return 400, {"error": "invalid_scope", "error_description": "AADSTS70011: invalid scope"}, {}
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}, {}

    def _request_action(self, machine: str, verb: str, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if machine not in self.machines:
            return 404, _error("ResourceNotFound", f"Machine {machine} was not found"), {}
        if not body.get("Comment"):
            return 400, _error("InvalidRequestBody", "Comment is required"), {}
        scope = body.get("IsolationType", "Full") if verb == "isolate" else None
        if scope not in ("Full", "Selective", None):
            return 400, _error("InvalidRequestBody", "IsolationType must be Full or Selective"), {}
        if any(a["machineId"] == machine and a["status"] in RUNNING for a in self.actions):
            return 400, _error("ActiveRequestAlreadyExists", "Action is already in progress"), {}
        kind = "Isolate" if verb == "isolate" else "Unisolate"
        action = self._new_action(machine, kind, scope, str(body["Comment"]), "Pending")
        context = f"{self.url}/api/$metadata#MachineActions/$entity"
        return 201, {"@odata.context": context, **action}, {}

    def _read_action(self, action_id: str) -> tuple[int, Any, dict[str, str]]:
        action = next((a for a in self.actions if a["id"] == action_id), None)
        if action is None:
            return 404, _error("ResourceNotFound", f"Machine action {action_id} was not found"), {}
        if action["status"] in RUNNING:
            self.reads[action_id] += 1
            if self.settle_after is not None and self.reads[action_id] > self.settle_after:
                action["status"] = self.outcome
                if self.outcome == "Succeeded":
                    self.isolated[action["machineId"]] = action["type"] == "Isolate"
            else:
                action["status"] = "InProgress"
        return 200, {"@odata.context": f"{self.url}/api/$metadata#MachineActions/$entity", **action}, {}

    def _list_actions(self, odata_filter: str) -> tuple[int, Any, dict[str, str]]:
        m = _FILTER.fullmatch(odata_filter)
        if m is None:
            return 400, _error("InvalidRequest", f"unsupported $filter {odata_filter!r}"), {}
        value = [a for a in self.actions if a["machineId"] == m[1] and a["id"] not in self.unlisted]
        self.unlisted.clear()
        return 200, {"@odata.context": f"{self.url}/api/$metadata#MachineActions", "value": value}, {}

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
                for name, value in {"Content-Type": "application/json; charset=utf-8", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "target": str(uuid.uuid4())}}
