"""Redis is a cache: with it down, incidents are still answered and readable (from Temporal), and the cache
catches up once it is back."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.stack import RedisServer, make_settings, service
from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.models.incident import IncidentStatus

pytestmark = pytest.mark.timeout(90)


def alert(rule: str, n: int) -> dict[str, object]:
    return {
        "id": f"{rule}-{n}",
        "title": "Outbound C2 beacon",
        "severity": "high",
        "source": "redis-outage",
        "rule": rule,
        "observables": {"src_ip": "10.0.0.8", "dest_ip": "203.0.113.8"},
    }


async def failed_total(http: httpx.AsyncClient) -> float:
    """xorb_incidents_failed_total (the registry is the process's: other tests count too)."""
    for line in (await http.get("/metrics")).text.splitlines():
        if line.startswith("xorb_incidents_failed_total "):
            return float(line.split()[1])
    return 0.0


async def test_with_redis_down_an_alert_still_becomes_a_completed_incident(
    temporal_address: str, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path)
    redis.stop()
    settings = make_settings(temporal_address, redis.url, XORB_CORRELATION_WINDOW_SECONDS=3600)
    rule = "redis-down-" + uuid.uuid4().hex[:8]
    cache = IncidentCache(redis.url)
    try:
        async with service(settings) as svc:
            failed_before = await failed_total(svc.http)
            started = time.monotonic()
            incident_id = await svc.send_alert(alert(rule, 1))
            # Read from Temporal: the cache has nothing. The response ran although every cache write failed.
            view = await svc.wait_for_incident(incident_id, timeout=20)
            assert time.monotonic() - started < 10, "a cache outage delayed the response"
            assert view["alert_count"] == 1 and view["error"] is None
            assert [step["status"] for step in view["steps"]] == ["skipped"]  # no webhook configured
            assert await failed_total(svc.http) == failed_before

            redis.start()  # back, empty; the next write carries the whole view
            await svc.send_alert(alert(rule, 2))
            deadline = time.monotonic() + 15
            cached = None
            while time.monotonic() < deadline:
                cached = (await cache.get_many([incident_id])).get(incident_id)
                if cached is not None and cached.alert_count == 2:
                    break
                await asyncio.sleep(0.2)
            assert cached is not None and cached.alert_count == 2, cached
            assert cached.status is IncidentStatus.COMPLETED and cached.plan is not None  # window: 1 h
    finally:
        await cache.close()
        redis.stop()
