"""A local TheHive 5 that answers its v1 API as StrangeBee documents it (docs.strangebee.com/thehive/api-docs) and
records every call.

- `POST /api/v1/alert` -> 201 with the alert (`_id` "~n"); `type`, `source`, `sourceRef`, `title`, `description`
  required (400 AttributeCheckingError); the type kept in lower case; a second alert with the same type, source and
  sourceRef in the organisation -> 400 `{"type": "CreateError", "message": "Alert t:s:r already exist in
  organisation O"}` (TheHive's AlertSrv).
- `GET|DELETE /api/v1/alert/{id}` -> 200 / 204, or 404 `{"type": "NotFoundError", ...}`.
- `POST /api/v1/case` -> 201 with the case (`_id`, `number`); `GET /api/v1/case/{id}`.
- `POST /api/v1/query` -> the entities of `listAlert` / `listCase` through `filter` (`_eq`, `_and`) and `page`.
  `index_lag` hides a new entity from that many queries (the search index lags writes).
- `GET /api/v1/user/current`.
- Authorization: `Bearer <api key>`, else 401 AuthenticationError. `fail_next` answers the next calls with a status
  (429 with Retry-After, 503) before doing anything.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ORGANISATION = "SOC"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str] = field(repr=False)


class TheHive:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.calls: list[Call] = []
        self.alerts: dict[str, dict[str, Any]] = {}
        self.cases: dict[str, dict[str, Any]] = {}
        self.fail_next: list[int] = []
        self.index_lag = 0
        self._hidden: dict[str, int] = {}  # entity id -> queries it is still hidden from
        self._next = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                body = json.loads(raw) if raw else None
                with owner._lock:
                    owner.calls.append(Call(self.command, parts.path, parse_qs(parts.query), body,
                                            dict(self.headers.items())))  # fmt: skip
                    status, answer, headers = owner._answer(self.command, parts.path, body, self.headers)
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def effects(self) -> list[Call]:
        """The calls that change something (creates and deletes)."""
        return [c for c in self.calls if c.method == "DELETE" or c.path in ("/api/v1/alert", "/api/v1/case")]

    def _id(self) -> str:
        self._next += 1
        return f"~{40960 + self._next}"

    def _answer(self, method: str, path: str, body: Any, headers: Any) -> tuple[int, Any, dict[str, str]]:
        if self.fail_next:
            status = self.fail_next.pop(0)
            extra = {"Retry-After": "7"} if status == 429 else {}
            return status, {"type": "GenericError", "message": f"answered {status} on purpose"}, extra
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"type": "AuthenticationError", "message": "Authentication failure"}, {}
        if method == "POST" and path == "/api/v1/alert":
            return self._create_alert(body)
        if method == "POST" and path == "/api/v1/case":
            return self._create_case(body)
        if method == "POST" and path == "/api/v1/query":
            return 200, self._query(body["query"]), {}
        if method == "GET" and path == "/api/v1/user/current":
            return 200, {"_id": "~8", "login": "xorb@soc.example", "organisation": ORGANISATION}, {}
        if m := re.fullmatch(r"/api/v1/(alert|case)/([^/]+)", path):
            store = self.alerts if m[1] == "alert" else self.cases
            if m[2] not in store:
                return 404, {"type": "NotFoundError", "message": f"{m[1].title()} {m[2]} not found"}, {}
            if method == "GET":
                return 200, store[m[2]], {}
            if method == "DELETE":
                del store[m[2]]
                return 204, None, {}
        return 404, {"type": "NotFoundError", "message": f"{method} {path} not found"}, {}

    def _missing(self, body: Any, names: tuple[str, ...]) -> tuple[int, Any, dict[str, str]] | None:
        missing = [n for n in names if not isinstance(body, dict) or not body.get(n)]
        if not missing:
            return None
        errors = [{"name": f"{n}", "type": "MissingAttributeError"} for n in missing]
        return 400, {"type": "AttributeCheckingError", "message": f"[{missing}]", "errors": errors}, {}

    def _create_alert(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        if refusal := self._missing(body, ("type", "source", "sourceRef", "title", "description")):
            return refusal
        kind = str(body["type"]).lower()
        for alert in self.alerts.values():
            if (alert["type"], alert["source"], alert["sourceRef"]) == (kind, body["source"], body["sourceRef"]):
                message = (
                    f"Alert {kind}:{body['source']}:{body['sourceRef']} already exist in organisation {ORGANISATION}"
                )
                return 400, {"type": "CreateError", "message": message}, {}
        alert_id = self._id()
        observables = [{"_id": self._id(), **o} for o in body.get("observables", [])]
        alert = {"_id": alert_id, "_type": "Alert", "status": "New", "stage": "New", "severity": 2, "tags": [],
                 "tlp": 2, "pap": 2, **body, "type": kind, "observableCount": len(observables)}  # fmt: skip
        alert.pop("observables", None)
        self.alerts[alert_id] = alert
        self._hidden[alert_id] = self.index_lag
        return 201, alert, {}

    def _create_case(self, body: Any) -> tuple[int, Any, dict[str, str]]:
        if refusal := self._missing(body, ("title", "description")):
            return refusal
        case_id = self._id()
        case = {"_id": case_id, "_type": "Case", "number": len(self.cases) + 1, "status": "New", "stage": "New",
                "severity": 2, "tags": [], **body}  # fmt: skip
        self.cases[case_id] = case
        self._hidden[case_id] = self.index_lag
        return 201, case, {}

    def _query(self, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        start, *rest = steps
        found = list({"listAlert": self.alerts, "listCase": self.cases}[start["_name"]].values())
        for step in rest:
            if step["_name"] == "filter":
                found = [e for e in found if _matches(e, step)]
            elif step["_name"] == "page":
                found = found[step["from"] : step["to"]]
        visible = []
        for entity in found:
            hidden = self._hidden.get(entity["_id"], 0)
            if hidden > 0:
                self._hidden[entity["_id"]] = hidden - 1
            else:
                visible.append(entity)
        return visible


def _matches(entity: dict[str, Any], condition: dict[str, Any]) -> bool:
    if "_and" in condition:
        return all(_matches(entity, c) for c in condition["_and"])
    if "_eq" in condition:
        value = entity.get(condition["_eq"]["_field"])
        wanted = condition["_eq"]["_value"]
        return wanted in value if isinstance(value, list) else value == wanted  # tags: any of them
    raise AssertionError(f"filter not served here: {condition}")
