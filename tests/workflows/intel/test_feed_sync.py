"""Feed syncs on the real service (Temporal dev server, Redis, worker + API) against a MISP feed served over HTTP as
MISP serves it (manifest.json + one file per event), 3 pages of indicators:

- the server stopped mid-sync and back a few seconds later: the page is retried and the sync completes;
- the server refusing mid-sync: the sync fails and says why, the store keeps the old entries plus whole pages
  (nothing half-applied, nothing swept), and the next sync completes it — removing what the feed dropped.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import RedisServer, RunningService, make_settings, service
from xorb_orchestrator.infrastructure.indicator_store import IndicatorStore
from xorb_orchestrator.infrastructure.ports import free_port

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

EVENTS, PER_EVENT = 120, 10  # 50 events a page: 3 pages


def event_id(n: int) -> str:
    return str(uuid.UUID(int=n + 1))


def address(n: int, k: int) -> str:
    return f"198.51.{n // 25}.{(n % 25) * 10 + k + 1}"


class MispFeedServer:
    """Serves `events` (index -> addresses) as a MISP feed; can stop, come back on the same port, or refuse."""

    def __init__(self, events: dict[int, list[str]]) -> None:
        self.events = events
        self.port = free_port()
        self.served_events = 0
        self.refuse_after: int | None = None  # event requests served before it answers 403
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feed"

    def _answer(self, path: str) -> tuple[int, Any]:
        stamp = str(int(time.time()))
        if path == "/feed/manifest.json":
            return 200, {event_id(n): {"info": f"event {n}", "timestamp": stamp} for n in self.events}
        for n, values in self.events.items():
            if path == f"/feed/{event_id(n)}.json":
                self.served_events += 1
                if self.refuse_after is not None and self.served_events > self.refuse_after:
                    return 403, {"message": "feed access revoked"}
                attributes = [
                    {"type": "ip-dst", "value": v, "to_ids": True, "timestamp": stamp, "uuid": str(uuid.uuid4())}
                    for v in values
                ]
                return 200, {"Event": {"uuid": event_id(n), "info": f"event {n}", "timestamp": stamp,
                                       "Attribute": attributes}}  # fmt: skip
        return 404, {"message": "not found"}

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = owner._answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@asynccontextmanager
async def running(
    temporal_address: str, redis: RedisServer, tmp_path: Path, feed: MispFeedServer
) -> AsyncIterator[RunningService]:
    feeds = tmp_path / "feeds.yaml"
    # A long interval: the only syncs are the first (at start) and those the test asks for.
    feeds.write_text(f"feeds:\n  - name: misp-test\n    type: misp-feed\n    url: {feed.url}\n    interval: 1d\n")
    settings = make_settings(temporal_address, redis.url, XORB_TI_FEEDS_FILE=str(feeds))
    async with service(settings) as svc:
        yield svc


async def sync(svc: RunningService) -> tuple[int, dict[str, Any]]:
    response = await svc.http.post("/v1/ti/feeds/misp-test/sync", params={"wait": 90}, timeout=120)
    return response.status_code, response.json()


async def stored(redis: RedisServer) -> set[str]:
    store = IndicatorStore(redis.url)
    try:
        return {value async for _, value in store.values_of("misp-test")}
    finally:
        await store.close()


def all_addresses(events: dict[int, list[str]]) -> set[str]:
    return {v for values in events.values() for v in values}


async def test_a_server_stopped_mid_sync_and_back_lets_the_sync_complete(
    temporal_address: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    events = {n: [address(n, k) for k in range(PER_EVENT)] for n in range(EVENTS)}
    feed = MispFeedServer(events)
    feed.start()
    try:
        async with running(temporal_address, redis_server, tmp_path, feed) as svc:
            await sync(svc)  # the sync the new feed's schedule started at once
            feed.served_events = 0

            async def outage() -> None:  # stop once the second page is under way; back 3 s later
                while feed.served_events < 60:
                    await asyncio.sleep(0.01)
                feed.stop()
                await asyncio.sleep(3)
                feed.start()

            stopping = asyncio.create_task(outage())
            status, result = await sync(svc)
            await stopping
            assert status == 200, result
            assert (result["status"], result["counts"]["pages"]) == ("completed", 3)
            assert await stored(redis_server) == all_addresses(events)
    finally:
        feed.stop()


async def test_a_sync_failing_mid_way_leaves_the_store_whole_and_the_next_completes_it(
    temporal_address: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    events = {n: [address(n, k) for k in range(PER_EVENT)] for n in range(EVENTS)}
    before = all_addresses(events)
    feed = MispFeedServer(events)
    feed.start()
    try:
        async with running(temporal_address, redis_server, tmp_path, feed) as svc:
            status, _ = await sync(svc)
            assert status == 200 and await stored(redis_server) == before

            # The feed drops its first 10 events and adds one; the server stops serving halfway through.
            for n in range(10):
                del events[n]
            events[500] = ["192.0.2.77"]
            feed.served_events, feed.refuse_after = 0, 60
            status, failure = await sync(svc)
            assert status == 502 and "403" in failure["message"], failure
            # Nothing half-applied, nothing swept: the old entries all stay, and nothing foreign came in.
            assert before <= await stored(redis_server) <= before | {"192.0.2.77"}
            feeds = (await svc.http.get("/v1/ti/feeds")).json()["items"]
            assert feeds[0]["state"] == "failing" and "403" in feeds[0]["status"]["last_error"]

            feed.refuse_after = None
            status, result = await sync(svc)
            assert status == 200, result
            assert await stored(redis_server) == all_addresses(events)  # the dropped events' entries are gone
            assert result["counts"]["removed"] == 10 * PER_EVENT
            feeds = (await svc.http.get("/v1/ti/feeds")).json()["items"]
            assert feeds[0]["state"] == "ok"
    finally:
        feed.stop()
