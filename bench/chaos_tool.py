"""The recording tool of bench/chaos.py: a threaded HTTP server standing in for the Slack-style webhook.

It records every call with its `Idempotency-Key` header (notify.webhook sends `<incident id>/<step id>`) and
honours the key as real APIs do: the first successful call with a key is an EFFECT; a later call with the same
key is a REPEATED call, answered 200 without a second effect.

Faults are chosen per incident, so each incident's expected outcome is known: an alert whose title carries
`tool=<mode>` makes the tool answer every call for its incident in that mode (`ok`, `500`, `429` with
`Retry-After: 1`, `404`, or `hang`: hold the connection `hang_seconds`, longer than the action's HTTP timeout,
then close it unanswered). Calls without a marker get the tool's current `mode` (`set_mode`), `ok` by default.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = ("ok", "500", "429", "404", "hang")
_MARKER = re.compile(r"\btool=(ok|500|429|404|hang)\b")


@dataclass
class Call:
    at: float  # time.monotonic() when the call arrived
    key: str | None  # Idempotency-Key
    incident_id: str | None  # from the key (`<incident id>/<step id>`), else from the body
    mode: str
    status: int | None  # what the tool answered; None: hung up without an answer
    effect: bool  # the first successful call with this key
    repeated: bool  # a successful call with a key already seen: answered 200, no second effect


class RecordingTool:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, hang_seconds: float = 15.0) -> None:
        self.hang_seconds = hang_seconds
        self.mode = "ok"
        self.calls: list[Call] = []
        self.effects: dict[str, Call] = {}  # key -> the call that had the effect
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        tool = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                tool._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="chaos-tool", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def start(self) -> RecordingTool:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging calls at once
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown tool mode {mode!r}; expected one of {', '.join(MODES)}")
        self.mode = mode

    def snapshot(self) -> tuple[list[Call], dict[str, Call]]:
        with self._lock:
            return list(self.calls), dict(self.effects)

    def calls_as_dicts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(call) for call in self.calls]

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        length = int(request.headers.get("content-length") or 0)
        raw = request.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = {}
        text = str(body.get("text", "")) if isinstance(body, dict) else ""
        key = request.headers.get("Idempotency-Key")
        incident_id = key.split("/", 1)[0] if key else (body.get("incident_id") if isinstance(body, dict) else None)
        found = _MARKER.search(text)
        mode = found.group(1) if found else self.mode
        call = Call(arrived, key, incident_id, mode, None, effect=False, repeated=False)
        if mode == "hang":
            with self._lock:
                self.calls.append(call)
            self._stopping.wait(self.hang_seconds)
            request.close_connection = True  # hang up without an answer
            return
        status = {"500": 500, "429": 429, "404": 404}.get(mode, 200)
        with self._lock:
            if status == 200:
                if key is not None and key in self.effects:
                    call.repeated = True
                else:
                    call.effect = True
                    if key is not None:
                        self.effects[key] = call
            call.status = status
            self.calls.append(call)
        answer = json.dumps({"ok": status == 200, "repeated": call.repeated}).encode()
        try:
            request.send_response(status)
            if status == 429:
                request.send_header("Retry-After", "1")
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(answer)))
            request.end_headers()
            request.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller gave up (a killed worker, a timeout); the effect, if any, happened
