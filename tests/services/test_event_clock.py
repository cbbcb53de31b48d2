"""`XORB_CORRELATION_CLOCK=event` (issue 14, item 12): alerts correlate on when they happened, not when they came.

Replaying a file of alerts spread over 2 h 20 min (`xorb alerts send`, or a catch-up after an outage) put them all
in one 600 s incident, because windows ran on arrival time. With the event clock each alert goes to the incident of
the window its own time falls in; an alert without a time, or with one too far in the future, correlates on its
arrival; an alert whose window's incident has already closed starts a new run of that incident.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from tests.support.stack import RedisServer, RunningService, dev_temporal, make_settings, service
from xorb_orchestrator.models.ids import incident_id_for
from xorb_orchestrator.services.correlation import key_for, window_start
from xorb_orchestrator.sources.generic_alert import GenericAlert

pytestmark = pytest.mark.timeout(90)

WINDOW = 600
RUN = uuid.uuid4().hex[:8]
NDJSON = {"Content-Type": "application/x-ndjson"}
OPENED: dict[str, set[str]] = {}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(temporal_address: str, redis_server: RedisServer) -> AsyncIterator[RunningService]:
    settings = make_settings(
        temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=WINDOW, XORB_CORRELATION_CLOCK="event"
    )
    async with service(settings) as running:
        yield running
        await responses_done(running)


async def responses_done(svc: RunningService) -> None:
    for incident_id in sorted(OPENED.pop(svc.settings.temporal_task_queue, set())):
        await svc.wait_for_incident(incident_id)


def alert(rule: str, happened: datetime | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "evt-" + uuid.uuid4().hex,
        "title": f"Port scan ({rule})",
        "severity": "medium",
        "source": "clock-" + RUN,
        "rule": rule,
        "observables": {"src_ip": "10.6.0.5"},
    }
    if happened is not None:
        body["time"] = happened.isoformat()
    return body


def incident_at(svc: RunningService, body: dict[str, Any], at: datetime) -> str:
    key = key_for(GenericAlert.model_validate(body).to_alert(), svc.settings)
    return incident_id_for(key, window_start(at, svc.settings.correlation_window_seconds))


async def send_file(svc: RunningService, bodies: list[dict[str, Any]]) -> list[str]:
    """What `xorb alerts send` does with a file: its lines as one NDJSON request."""
    ndjson = b"\n".join(json.dumps(body).encode() for body in bodies)
    response = await svc.http.post("/v1/alerts/generic", content=ndjson, headers=NDJSON)
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted"] * len(bodies), results
    OPENED.setdefault(svc.settings.temporal_task_queue, set()).update(r["incident_id"] for r in results)
    return [str(r["incident_id"]) for r in results]


def seen(text: str) -> datetime:
    return datetime.fromisoformat(text)


def happened(minutes: float) -> datetime:
    return datetime(2024, 6, 6, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)


async def test_a_replayed_file_correlates_as_it_happened(svc: RunningService, redis_server: RedisServer) -> None:
    rule = "clock-replay"
    # Two bursts of one scan, 2 h 20 min apart, sent now in one file.
    bodies = [alert(rule, happened(m)) for m in (0, 1, 4, 140, 141)]
    incidents = await send_file(svc, bodies)
    morning, later = incident_at(svc, bodies[0], happened(0)), incident_at(svc, bodies[0], happened(140))
    assert incidents == [morning] * 3 + [later] * 2
    assert morning.endswith("-20240606T090000") and later.endswith("-20240606T112000")
    first = await svc.wait_for_view(morning, lambda v: v["alert_count"] == 3, timeout=15)
    assert (seen(first["first_seen"]), seen(first["last_seen"])) == (happened(0), happened(4))
    second = await svc.wait_for_view(later, lambda v: v["alert_count"] == 2, timeout=15)
    assert seen(second["first_seen"]) == happened(140)

    # The same file on the arrival clock (the default): one incident, as before.
    arrival = make_settings(svc.settings.temporal_host, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=WINDOW)
    async with service(arrival) as on_arrival:
        assert len(set(await send_file(on_arrival, [alert(rule, happened(m)) for m in (0, 1, 4, 140, 141)]))) == 1
        await responses_done(on_arrival)


async def test_without_a_believable_time_an_alert_correlates_on_its_arrival(svc: RunningService) -> None:
    left = WINDOW - time.time() % WINDOW
    if left < 10:  # all three must arrive in one window
        await asyncio.sleep(left + 0.5)
    rule = "clock-untimed"
    now = datetime.now(UTC)
    bodies = [alert(rule, None), alert(rule, now + timedelta(hours=1)), alert(rule, datetime(9999, 1, 1, tzinfo=UTC))]
    incidents = await send_file(svc, bodies)
    assert incidents == [incident_at(svc, bodies[0], now)] * 3
    await svc.wait_for_view(incidents[0], lambda v: v["alert_count"] == 3, timeout=15)


async def test_an_alert_of_a_closed_windows_incident_starts_it_again(redis_server: RedisServer) -> None:
    """A straggler of a catch-up, after its window's incident closed: a new run of that incident answers it.

    On a Temporal of its own: several runs of one incident id must not reach the session's namespace."""
    async with dev_temporal() as env:
        address = str(env.client.service_client.config.target_host)
        settings = make_settings(
            address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=2, XORB_CORRELATION_CLOCK="event"
        )
        async with service(settings) as late:
            early = alert("clock-late", happened(0.005))
            (incident_id,) = await send_file(late, [early])
            assert incident_id == incident_at(late, early, happened(0))
            await env.client.get_workflow_handle(incident_id).result()  # closed: no alert for its linger
            straggler = alert("clock-late", happened(0.02))
            assert await send_file(late, [straggler]) == [incident_id]
            view = await late.wait_for_view(incident_id, lambda v: v["status"] == "closed", timeout=30)
            assert (view["alert_count"], view["redelivery_of"]) == (1, [])
            assert view["plan"] is not None  # answered, not taken for a re-delivery
            runs = [e async for e in env.client.list_workflows(f"WorkflowId = '{incident_id}'")]
            assert len(runs) == 2
            # The first alert again is a re-delivery, whichever run is asked.
            again = await late.http.post("/v1/alerts/generic", json=early)
            assert again.json()["results"][0]["duplicate"] is True
