"""A local Microsoft Teams channel webhook, as Microsoft documents it (learn.microsoft.com/microsoftteams/platform/
webhooks-and-connectors), recording every call.

Two kinds, as `kind` says:
- "legacy": an Incoming Webhook (Microsoft 365 connector) at `/webhookb2/<...>/IncomingWebhook/<...>`: a message
  it takes -> 200 with the body "1"; a payload that is not a message -> 400 "Bad payload received by generic
  incoming webhook."; throttled (`throttle_next`) -> 200 with "Microsoft Teams endpoint returned HTTP error 429 with
  ContextId ..." in the body ("Connectors do not throw 429s").
- "workflows": a Workflows webhook ("When a Teams webhook request is received") at
  `/workflows/<id>/triggers/manual/paths/invoke?api-version=...&sig=<signature>`: a message -> 202 with no body; a
  wrong signature -> 401; throttled -> 429 with Retry-After.
A message is `{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"content": {"type": "AdaptiveCard", ...}}]}`. Any other path -> 404. `posted` holds the cards taken.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

LEGACY_PATH = "/webhookb2/3f0c2d8e-7b1a-4c55-9e0f-52d1a8c3b7e4@7a5b-tenant/IncomingWebhook/9c1e5f2a0b7d4e3f/d41d8cd9"
WORKFLOW_PATH = "/workflows/8d2f4a1c9e6b4f07/triggers/manual/paths/invoke"
SIGNATURE = "sig-" + "Qm9ndXMtc2lnbmF0dXJl"
ADAPTIVE = "application/vnd.microsoft.card.adaptive"


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str] = field(repr=False)


class Teams:
    def __init__(self, kind: Literal["legacy", "workflows"]) -> None:
        self.kind = kind
        self.calls: list[Call] = []
        self.posted: list[dict[str, Any]] = []
        self.throttle_next = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = urlsplit(self.path)
                try:
                    body = json.loads(raw.decode()) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                query = parse_qs(parts.query)
                owner.calls.append(Call(self.command, parts.path, query, body, dict(self.headers.items())))
                status, text, headers = owner._answer(self.command, parts.path, query, body)
                data = text.encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.webhook_url = (
            origin + LEGACY_PATH
            if kind == "legacy"
            else f"{origin}{WORKFLOW_PATH}?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIGNATURE}"
        )

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, str, dict[str, str]]:
        text = {"Content-Type": "text/plain; charset=utf-8"}
        as_json = {"Content-Type": "application/json; charset=utf-8"}
        if method != "POST" or path != (LEGACY_PATH if self.kind == "legacy" else WORKFLOW_PATH):
            return 404, "Not Found", text
        if self.kind == "workflows" and query.get("sig") != [SIGNATURE]:
            error = {
                "error": {"code": "DirectApiAuthorizationRequired", "message": "The request must be authenticated."}
            }
            return 401, json.dumps(error), as_json
        if self.throttle_next:
            self.throttle_next -= 1
            if self.kind == "legacy":
                return 200, "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi", text
            error = {"error": {"code": "TooManyRequests", "message": "Rate limit is exceeded. Try again later."}}
            return 429, json.dumps(error), {**as_json, "Retry-After": "12"}
        if not _is_message(body):
            if self.kind == "legacy":
                return 400, "Bad payload received by generic incoming webhook.", text
            error = {"error": {"code": "InvalidRequestContent", "message": "The input body is not a message."}}
            return 400, json.dumps(error), as_json
        self.posted.append(body)
        return (200, "1", text) if self.kind == "legacy" else (202, "", {})


def _is_message(body: Any) -> bool:
    if not isinstance(body, dict) or body.get("type") != "message" or not body.get("attachments"):
        return False
    return all(
        a.get("contentType") == ADAPTIVE and a.get("content", {}).get("type") == "AdaptiveCard"
        for a in body["attachments"]
    )
