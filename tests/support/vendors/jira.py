"""A local Jira Cloud that answers REST API v3 as Atlassian documents it (developer.atlassian.com/cloud/jira/
platform/rest/v3) and records every call.

- `POST /rest/api/3/issue` {fields: project.key, issuetype.name, summary, description (ADF), labels, priority?}
  -> 201 `{"id", "key", "self"}`; 400 `{"errorMessages": [], "errors": {field: message}}` for an unknown project,
  a missing summary, a summary with a line break, a label with a space, a description that is not an ADF document,
  or labels when `labels_on_screen` is off ("Field 'labels' cannot be set. It is not on the appropriate screen, or
  unknown.").
- `POST /rest/api/3/search/jql` {jql, fields, maxResults} -> `{"issues": [...], "isLast": true}`, serving
  `project = "K" AND labels = "L"`; `index_lag` hides a new issue from that many searches (Atlassian: the search is
  eventually consistent). The old `/rest/api/3/search` -> 410.
- `GET /rest/api/3/issue/{key}?fields=...` (consistent), `GET /rest/api/3/myself`.
- Basic auth `email:api token`, else 401. `fail_next` answers the next calls with a status (429 with Retry-After).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

EMAIL = "soc-bot@example.com"
PROJECTS = ("SOC",)
ABSENT = "Issue does not exist or you do not have permission to see it."


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str] = field(repr=False)


class Jira:
    def __init__(self, api_token: str) -> None:
        self.api_token = api_token
        self.calls: list[Call] = []
        self.issues: dict[str, dict[str, Any]] = {}  # key -> issue
        self.fail_next: list[int] = []
        self.index_lag = 0
        self.labels_on_screen = True
        self._hidden: dict[str, int] = {}
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
                    status, answer, headers = owner._answer(self.command, parts.path, parse_qs(parts.query), body,
                                                            self.headers.get("Authorization", ""))  # fmt: skip
                data = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json;charset=UTF-8", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def creates(self) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and c.path == "/rest/api/3/issue"]

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, auth: str
    ) -> tuple[int, Any, dict[str, str]]:
        if self.fail_next:
            status = self.fail_next.pop(0)
            headers = {"Retry-After": "30"} if status == 429 else {}
            return status, {"errorMessages": [f"answered {status} on purpose"], "errors": {}}, headers
        expected = "Basic " + base64.b64encode(f"{EMAIL}:{self.api_token}".encode()).decode()
        if auth != expected:
            return 401, {"errorMessages": ["Client must be authenticated to access this resource."], "errors": {}}, {}
        if method == "POST" and path == "/rest/api/3/issue":
            return self._create(body["fields"])
        if method == "POST" and path == "/rest/api/3/search/jql":
            return 200, self._search(body), {}
        if path == "/rest/api/3/search":
            return 410, {"errorMessages": ["The requested API has been removed. Please use /rest/api/3/search/jql."],
                         "errors": {}}, {}  # fmt: skip
        if method == "GET" and (m := re.fullmatch(r"/rest/api/3/issue/([A-Z0-9_]+-\d+)", path)):
            issue = self.issues.get(m[1])
            if issue is None:
                return 404, {"errorMessages": [ABSENT], "errors": {}}, {}
            return 200, _shown(issue, query.get("fields", ["*all"])[0].split(",")), {}
        if method == "GET" and path == "/rest/api/3/myself":
            return 200, {"accountId": "5b10ac8d82e05b22cc7d4ef5", "emailAddress": EMAIL, "displayName": "SOC bot"}, {}
        return 404, {"errorMessages": ["Not found"], "errors": {}}, {}

    def _create(self, fields: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        errors: dict[str, str] = {}
        if fields.get("project", {}).get("key") not in PROJECTS:
            errors["project"] = "Specify a valid project ID or key"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        elif any(c in fields["summary"] for c in "\r\n"):
            errors["summary"] = "The summary is invalid because it contains newline characters."
        if fields.get("issuetype", {}).get("name") not in ("Task", "Bug", "Incident"):
            errors["issuetype"] = "Specify an issue type"
        if "labels" in fields:
            if not self.labels_on_screen:
                errors["labels"] = "Field 'labels' cannot be set. It is not on the appropriate screen, or unknown."
            elif any(" " in label for label in fields["labels"]):
                errors["labels"] = "The label can't contain spaces."
        description = fields.get("description")
        if description is not None and not (description.get("type") == "doc" and description.get("version") == 1):
            errors["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        if errors:
            return 400, {"errorMessages": [], "errors": errors}, {}
        number = len(self.issues) + 1
        key, issue_id = f"{fields['project']['key']}-{number}", str(10000 + number)
        status = {"name": "To Do", "statusCategory": {"key": "new"}}
        self.issues[key] = {"id": issue_id, "key": key, "fields": {**fields, "status": status}}
        self._hidden[key] = self.index_lag
        return 201, {"id": issue_id, "key": key, "self": f"{self.url}/rest/api/3/issue/{issue_id}"}, {}

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        m = re.fullmatch(r'project = "([A-Z0-9_]+)" AND labels = "(\S+)"', body["jql"])
        assert m is not None, f"JQL not served here: {body['jql']}"
        found = []
        for key, issue in self.issues.items():
            if issue["fields"]["project"]["key"] != m[1] or m[2] not in issue["fields"].get("labels", []):
                continue
            if self._hidden.get(key, 0) > 0:
                self._hidden[key] -= 1
                continue
            found.append(_shown(issue, body.get("fields", [])))
        return {"issues": found[: body.get("maxResults", 50)], "isLast": True}


def _shown(issue: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    everything = "*all" in fields or "*navigable" in fields
    kept = {k: v for k, v in issue["fields"].items() if everything or k in fields}
    return {"id": issue["id"], "key": issue["key"], "fields": kept}
