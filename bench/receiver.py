"""The tool the benchmarks' responses reach: a recording webhook receiver in the bench process.

latency.py times each incident's first action by it; playbooks.py points the service's notify.webhook and the
bare workflow's notify at it, so both reach the same, never limiting, tool.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) resets connections when a hundred activities post at once; a reset is
    # retried a second later and would be counted against whoever sent it.
    request_queue_size = 1024
    daemon_threads = True


@dataclass
class Arrival:
    path: str
    key: str  # the Idempotency-Key: `<incident or workflow id>/<step id>`
    monotonic: float
    wall: float


class Receiver:
    """Answers 200 to every POST (HTTP/1.1 keep-alive) and records when each arrived. The arrival is taken as
    soon as the request line and headers are read, before the body. First arrival per id is what counts."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.first: dict[str, Arrival] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                now, wall = time.monotonic(), time.time()
                self.rfile.read(int(self.headers.get("content-length") or 0))
                key = self.headers.get("idempotency-key") or ""
                arrival = Arrival(self.path, key, now, wall)
                with receiver._lock:
                    receiver.arrivals.append(arrival)
                    receiver.first.setdefault(key.rsplit("/", 1)[0], arrival)
                try:
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def first_of(self, ident: str) -> Arrival | None:
        with self._lock:
            return self.first.get(ident)

    def last_arrival(self) -> float:
        with self._lock:
            return self.arrivals[-1].monotonic if self.arrivals else 0.0

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
