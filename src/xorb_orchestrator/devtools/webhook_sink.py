"""A local webhook receiver: prints (and keeps) every notification it gets. For trying things out."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Received = dict[str, Any]


class WebhookSink:
    """Answers 200 to every POST and records {path, headers, body}. `on_request` may delay or fail."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_request: Callable[[Received], int | None] | None = None,
        echo: Callable[[Received], None] | None = None,
    ) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                item = {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                status = (on_request(item) if on_request else None) or 200
                if status < 300:
                    with sink._lock:
                        sink.received.append(item)
                    if echo:
                        echo(item)
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"ok": true}' if status < 300 else b'{"ok": false}')
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up (a killed worker, a timeout): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the sink's output is the notifications, not access logs

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def start(self) -> WebhookSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies(self) -> list[Any]:
        with self._lock:
            return [item["body"] for item in self.received]
