"""Servers the feed readers are tested against, each on a free port and stopped by its test.

- `FeedServer`: a local HTTP server answering per path as told (a document, a status, a body cut off mid-way, or a
  handler such as the MISP REST stub) and recording every request, so a test can count downloads and check
  headers.
- `Medallion`: the OASIS TAXII 2.1 reference server with its memory backend, run through its own command line as
  a subprocess (`--port 0`; the port is read from the line werkzeug prints), and stopped by its pid.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Answer:
    """What to answer: `cut_after` sends only that many bytes of the body (the full length declared) and hangs up;
    `declare_length` False ends the body by closing the connection instead (no Content-Length)."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    cut_after: int | None = None
    declare_length: bool = True


Handler = Callable[[Seen], Answer]


class FeedServer:
    """Start with `start()`, stop with `stop()`; `url` is http://127.0.0.1:<port>."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._answers: dict[str, Answer | Handler] = {}
        self._lock = threading.Lock()
        feeds = self

        class Handle(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                target = urlsplit(self.path)
                body: Any = json.loads(raw) if raw else None
                seen = Seen(self.command, target.path, parse_qs(target.query), dict(self.headers.items()), body)
                with feeds._lock:
                    feeds.seen.append(seen)
                    answer = feeds._answers.get(target.path, Answer(b"not found", 404))
                if not isinstance(answer, Answer):
                    answer = answer(seen)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                if answer.declare_length:
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body[: answer.cut_after])
                self.wfile.flush()
                self.close_connection = True

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, path: str, answer: Answer | Handler) -> str:
        """Answer requests for `path` so; returns its URL."""
        with self._lock:
            self._answers[path] = answer
        return self.url + path

    def document(self, path: str, body: bytes | str, **headers: str) -> str:
        """Serve a document at `path` (200); returns its URL."""
        data = body.encode() if isinstance(body, str) else body
        return self.answer(path, Answer(data, headers={k.replace("_", "-"): v for k, v in headers.items()}))

    def requests_for(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path == path]

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


COLLECTION_ID = "365fed99-08fa-fdcd-a1b3-fb247eb41d01"
API_ROOT = "api1"
TAXII_USER = "xorb-sync"
TAXII_PASSWORD = "taxii-pass-" + "7f3e9a1c"
MEDALLION = [sys.executable, "-m", "medallion.scripts.run"]  # its console script's module: no `-m medallion`
_LISTENING = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")


class Medallion:
    """medallion serving one API root (`api1`) with one collection ("Indicators") holding `objects`, each with its
    date added; `max_page_size` is the most objects it returns per request, whatever the client asks."""

    def __init__(self, folder: Path, objects: list[tuple[str, dict[str, Any]]], *, max_page_size: int) -> None:
        self._folder = folder
        self._log = folder / "medallion.log"
        manifest = [
            {
                "id": item["id"],
                "date_added": added,
                "version": item.get("modified", item["created"]),
                "media_type": "application/stix+json;version=2.1",
            }
            for added, item in objects
        ]
        data = {
            "/discovery": {"title": "Test TAXII server", "default": f"/{API_ROOT}/", "api_roots": [f"/{API_ROOT}/"]},
            API_ROOT: {
                "information": {
                    "title": "Threat intel",
                    "versions": ["application/taxii+json;version=2.1"],
                    "max_content_length": 10_000_000,
                },
                "status": [],
                "collections": [
                    {
                        "id": COLLECTION_ID,
                        "title": "Indicators",
                        "can_read": True,
                        "can_write": True,
                        "media_types": ["application/stix+json;version=2.1"],
                        "objects": [item for _, item in objects],
                        "manifest": manifest,
                    }
                ],
            },
        }
        (folder / "data.json").write_text(json.dumps(data))
        config = {
            "backend": {
                "module": "medallion.backends.memory_backend",
                "module_class": "MemoryBackend",
                "filename": str(folder / "data.json"),
            },
            "users": {TAXII_USER: TAXII_PASSWORD},
            "taxii": {"max_page_size": max_page_size},
        }
        (folder / "config.json").write_text(json.dumps(config))
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> Medallion:
        with open(self._log, "ab") as log:
            self._proc = subprocess.Popen(
                [*MEDALLION, "--host", "127.0.0.1", "--port", "0", str(self._folder / "config.json")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = _LISTENING.search(self._log.read_text(errors="replace"))
            if found:
                self.port = int(found[1])
                return self
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"medallion did not start:\n{self._log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)

    def requests_log(self) -> str:
        """What werkzeug logged: one line per request, with its query string."""
        return self._log.read_text(errors="replace")
