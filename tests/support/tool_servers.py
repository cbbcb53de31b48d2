"""A local HTTP server standing in for the security tools the bundled playbooks call, recording every call.

It answers the vendor endpoints the playbooks use, as the vendors document them: OPNsense firewall aliases
(`POST /api/firewall/alias_util/add|delete/<alias>`), Okta user lifecycle (`POST /api/v1/users/<id>/lifecycle/
suspend|unsuspend`), CrowdStrike Falcon host actions (`POST /devices/entities/devices-actions/v2?action_name=
contain|lift_containment`), Zscaler URL categories (`PUT /api/v1/urlCategories/<id>?action=ADD_TO_LIST|
REMOVE_FROM_LIST`, `POST /api/v1/status/activate`), and a threat-intel lookup (`GET /api/v1/ip/<ip>`, answering a
score as text). It is also a plain HTTP proxy: a request for `http://some.host/...` is answered the same way and
recorded with that host, so a playbook naming a real-looking host (the CACAO example's tip.test.local) can be
served here.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.paths import ROOT
from tests.support.stack import RunningService, make_settings, service
from xorb_orchestrator.devtools.webhook_sink import WebhookSink

TI_SCORE = "91"
# A person-bound key whose role lets dry runs make their vouched-for lookups (XORB_DRY_RUN_LOOKUP_ROLES).
AUTHOR_KEY = "author-key-" + uuid.uuid4().hex


@dataclass
class Call:
    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str] = field(repr=False)


def _answer(call: Call, state: dict[str, set[str]]) -> tuple[int, Any]:
    """The vendor's answer; `state` keeps what is blocked/suspended/contained, so set-state calls are idempotent."""
    body = call.body if isinstance(call.body, dict) else {}
    if m := re.fullmatch(r"/api/firewall/alias_util/(add|delete)/([\w.-]+)", call.path):
        members = state.setdefault(f"alias:{m[2]}", set())
        (members.add if m[1] == "add" else members.discard)(str(body.get("address")))
        return 200, {"status": "done"}
    if m := re.fullmatch(r"/api/v1/users/([^/]+)/lifecycle/(suspend|unsuspend)", call.path):
        suspended = state.setdefault("okta:suspended", set())
        (suspended.add if m[2] == "suspend" else suspended.discard)(m[1])
        return 200, {}
    if call.path == "/devices/entities/devices-actions/v2":
        action = call.query.get("action_name", [""])[0]
        contained = state.setdefault("falcon:contained", set())
        for device in body.get("ids", []):
            (contained.add if action == "contain" else contained.discard)(device)
        resources = [{"id": device, "path": ""} for device in body.get("ids", [])]
        return 202, {"meta": {"query_time": 0.01}, "resources": resources, "errors": []}
    if m := re.fullmatch(r"/api/v1/urlCategories/([\w-]+)", call.path):
        urls = state.setdefault(f"zia:{m[1]}", set())
        adding = call.query.get("action", [""])[0] == "ADD_TO_LIST"
        for url in body.get("urls", []):
            (urls.add if adding else urls.discard)(url)
        return 200, {"id": m[1], "configuredName": body.get("configuredName"), "urls": sorted(urls)}
    if call.path == "/api/v1/status/activate" and call.method == "POST":
        return 200, {"status": "ACTIVE"}
    if re.fullmatch(r"/api/v1/ip/[^/]+", call.path) and call.method == "GET":
        return 200, TI_SCORE
    return 404, {"errorSummary": f"Not found: {call.method} {call.path}"}


class ToolServer:
    """Start with `start()`, read `calls`, stop with `stop()`. `url` is its base URL (http://127.0.0.1:<port>)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.state: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        tool = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                target = urlsplit(self.path)  # absolute when we are used as a proxy
                host = target.netloc or self.headers.get("host", "")
                call = Call(self.command, host, target.path, parse_qs(target.query), body, dict(self.headers.items()))
                with tool._lock:
                    tool.calls.append(call)
                    status, answer = _answer(call, tool.state)
                text = answer if isinstance(answer, str) else json.dumps(answer)
                self.send_response(status)
                self.send_header("content-type", "text/plain" if isinstance(answer, str) else "application/json")
                self.send_header("content-length", str(len(text.encode())))
                self.end_headers()
                self.wfile.write(text.encode())

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ToolServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def mutating_calls(self) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method not in ("GET", "HEAD")]


PLAYBOOKS_DIR = ROOT / "playbooks"
# The CACAO example's hosts: its GET lookup is served here through the proxy; its POSTs are never sent.
CACAO_HOSTS = "tip.test.local,fw.test.local:8443,tickets.test.local"


@dataclass
class ToolStack:
    svc: RunningService
    tools: ToolServer
    sink: WebhookSink
    refuse: list[str] = field(default_factory=list)  # the sink answers 400 to messages containing one of these


@asynccontextmanager
async def tool_stack(
    temporal_address: str, redis_url: str, extra: Callable[[ToolServer], dict[str, object]] | None = None
) -> AsyncIterator[ToolStack]:
    """The real service (worker + API) with the bundled playbooks, the tools on a ToolServer (any port of
    127.0.0.1 allowed), notifications to a WebhookSink, and every other http:// host proxied to the ToolServer.
    `extra(tools)` gives more settings (they win), e.g. inputs naming the ToolServer's URL."""
    refuse: list[str] = []
    keys = tempfile.TemporaryDirectory()
    key_file = f"{keys.name}/api-keys"
    with open(key_file, "w", encoding="utf-8") as out:
        out.write(f"{AUTHOR_KEY} pat playbook-author\n")
    tools = ToolServer().start()
    sink = WebhookSink(on_request=lambda item: 400 if any(r in str(item["body"]) for r in refuse) else None).start()
    settings = make_settings(
        temporal_address,
        redis_url,
        XORB_NOTIFY_WEBHOOK_URLS=sink.url,
        XORB_HTTP_ALLOWED_HOSTS=f"127.0.0.1,{CACAO_HOSTS}",
        XORB_API_KEY_FILE=key_file,
        **({"XORB_PLAYBOOKS_DIR": str(PLAYBOOKS_DIR)} | (extra(tools) if extra else {})),
    )
    try:
        with pytest.MonkeyPatch.context() as env:  # read by the worker's HTTP client when the service starts
            env.setenv("HTTP_PROXY", tools.url)
            env.setenv("NO_PROXY", "127.0.0.1,localhost")
            async with service(settings) as svc:
                env.delenv("HTTP_PROXY")
                yield ToolStack(svc, tools, sink, refuse)
    finally:
        tools.stop()
        sink.stop()
        keys.cleanup()
