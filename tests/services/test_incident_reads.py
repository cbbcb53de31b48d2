"""GET /v1/incidents and /v1/incidents/{id}: order, filters, pages, errors; reads without Redis;
and the metrics an operator scrapes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client

from tests.support.stack import RedisServer, RunningService, make_settings, service
from xorb_orchestrator.devtools.webhook_sink import Received, WebhookSink
from xorb_orchestrator.models.alert import AlertEnvelope
from xorb_orchestrator.models.workflow_io import IncidentInput
from xorb_orchestrator.services.correlation import fingerprint
from xorb_orchestrator.services.incident_client import deliver_alerts
from xorb_orchestrator.sources.generic_alert import GenericAlert

pytestmark = pytest.mark.asyncio(loop_scope="session")

RUN = uuid.uuid4().hex[:8]
REJECT = "[reject]"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(temporal_address: str, redis_server: RedisServer) -> AsyncIterator[RunningService]:
    # The channel refuses (400, not retried) notifications about incidents titled [reject]: a
    # quick, real way to get a failed incident next to completed ones.
    def answer(item: Received) -> int | None:
        return 400 if REJECT in str(item["body"].get("text", "")) else None

    sink = WebhookSink(on_request=answer).start()
    settings = make_settings(temporal_address, redis_server.url, XORB_NOTIFY_WEBHOOK_URLS=sink.url)
    try:
        async with service(settings) as running:
            yield running
    finally:
        sink.stop()


@dataclass
class Incidents:
    low: str  # completed, sent first
    critical: str  # completed, sent second
    failed: str  # medium, failed, sent last


def _alert(rule: str, severity: str, title: str = "Suspicious login") -> dict[str, Any]:
    return {
        "title": title,
        "severity": severity,
        "source": "reads-" + RUN,
        "rule": rule,
        "observables": {"user": "alice", "src_ip": "10.2.0.1"},
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def incidents(svc: RunningService) -> Incidents:
    low = await svc.send_alert(_alert("reads-low", "low"))
    await svc.wait_for_incident(low)
    critical = await svc.send_alert(_alert("reads-critical", "critical"))
    await svc.wait_for_incident(critical)
    failed = await svc.send_alert(_alert("reads-failed", "medium", f"{REJECT} Impossible travel"))
    await svc.wait_for_incident(failed, status="failed")
    return Incidents(low=low, critical=critical, failed=failed)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 10) -> Any:
    """Visibility (the list and its filters) is eventually consistent: retry a failing check briefly."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _list(svc: RunningService, **params: Any) -> dict[str, Any]:
    response = await svc.http.get("/v1/incidents", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_list_is_newest_first(svc: RunningService, incidents: Incidents) -> None:
    async def check() -> list[dict[str, Any]]:
        items = (await _list(svc, page_size=500))["items"]
        ids = [i["incident_id"] for i in items]
        ours = [i for i in ids if i in (incidents.low, incidents.critical, incidents.failed)]
        assert ours == [incidents.failed, incidents.critical, incidents.low]
        return items

    items = await eventually(check)
    created = [item["created_at"] for item in items]
    assert created == sorted(created, reverse=True)


async def test_filter_by_status(svc: RunningService, incidents: Incidents) -> None:
    async def failed_only() -> None:
        items = (await _list(svc, status="failed", page_size=500))["items"]
        assert {i["status"] for i in items} == {"failed"}
        ids = {i["incident_id"] for i in items}
        assert incidents.failed in ids and not ids & {incidents.low, incidents.critical}

    async def completed_only() -> None:
        # No correlation window here: a completed response closes the incident at once.
        items = (await _list(svc, status="Closed", page_size=500))["items"]  # case does not matter
        assert {i["status"] for i in items} == {"closed"}
        ids = {i["incident_id"] for i in items}
        assert {incidents.low, incidents.critical} <= ids and incidents.failed not in ids

    await eventually(failed_only)
    await eventually(completed_only)
    failed = (await svc.http.get(f"/v1/incidents/{incidents.failed}")).json()
    assert failed["steps"][0]["status"] == "failed" and "400" in failed["error"]


async def test_filter_by_severity(svc: RunningService, incidents: Incidents) -> None:
    async def check(severity: str, label: str, expected: str) -> None:
        items = (await _list(svc, severity=severity, page_size=500))["items"]
        assert {i["severity"] for i in items} == {label}
        ids = {i["incident_id"] for i in items}
        assert expected in ids
        assert not ids & ({incidents.low, incidents.critical, incidents.failed} - {expected})

    await eventually(lambda: check("critical", "critical", incidents.critical))
    await eventually(lambda: check("2", "low", incidents.low))  # an OCSF number works too
    await eventually(lambda: check("MED", "medium", incidents.failed))  # and an alias


async def test_filters_combine(svc: RunningService, incidents: Incidents) -> None:
    async def check() -> None:
        items = (await _list(svc, status="closed", severity="low", page_size=500))["items"]
        ids = {i["incident_id"] for i in items}
        assert incidents.low in ids and not ids & {incidents.critical, incidents.failed}
        assert all(i["status"] == "closed" and i["severity"] == "low" for i in items)

    await eventually(check)
    running_low = (await _list(svc, status="running", severity="low", page_size=500))["items"]
    assert incidents.low not in {i["incident_id"] for i in running_low}
    assert all(i["severity"] == "low" for i in running_low)


async def test_pages_do_not_overlap(svc: RunningService, incidents: Incidents) -> None:
    async def ours_visible() -> None:
        ids = {i["incident_id"] for i in (await _list(svc, page_size=500))["items"]}
        assert {incidents.low, incidents.critical, incidents.failed} <= ids

    await eventually(ours_visible)
    first = await _list(svc, page_size=2)
    assert len(first["items"]) == 2 and first["next_page_token"]
    second = await _list(svc, page_size=2, page_token=first["next_page_token"])
    assert second["items"]
    first_ids = {i["incident_id"] for i in first["items"]}
    second_ids = {i["incident_id"] for i in second["items"]}
    assert not first_ids & second_ids
    # Walking every page yields each incident exactly once.
    seen: list[str] = []
    token: str | None = None
    for _ in range(200):
        page = await _list(svc, page_size=25, **({"page_token": token} if token else {}))
        seen += [i["incident_id"] for i in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert len(seen) == len(set(seen))
    assert {incidents.low, incidents.critical, incidents.failed} <= set(seen)


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"status": "bogus"}, "status", "open|waiting|running|awaiting_approval|completed|failed|closed"),
        ({"severity": "LOUD"}, "severity", "'LOUD'"),
        ({"severity": "9"}, "severity", "0-6, got 9"),
        ({"page_size": "0"}, "page_size", "1-500"),
        ({"page_size": "501"}, "page_size", "1-500"),
        ({"page_size": "abc"}, "page_size", "integer"),
    ],
)
async def test_bad_filter_is_400_naming_the_parameter(
    svc: RunningService, params: dict[str, str], field: str, says: str
) -> None:
    response = await svc.http.get("/v1/incidents", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_query"
    assert [f["field"] for f in body["fields"]] == [field]
    assert field in body["message"] and says in body["message"] + body["fields"][0]["message"]


@pytest.mark.parametrize("incident_id", ["incident-" + "0" * 24, "incident-nope", "anything"])
async def test_unknown_incident_is_404_json(svc: RunningService, incident_id: str) -> None:
    response = await svc.http.get(f"/v1/incidents/{incident_id}")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": f"no incident {incident_id!r}"}


async def test_metrics_cover_alerts_incidents_steps_and_the_sdk(svc: RunningService, incidents: Incidents) -> None:
    text = (await svc.http.get("/metrics")).text
    samples = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if not line.startswith("#")}
    for name in (
        "xorb_alerts_received_total",
        "xorb_incidents_started_total",
        "xorb_step_duration_seconds_bucket",
        "xorb_step_duration_seconds_count",
        "xorb_incidents_waiting_for_slot",
        "xorb_alert_to_first_action_seconds_bucket",
    ):
        assert name in samples, name
    # A gauge with a label shows up with its declaration even when no step is running right now.
    assert "# TYPE xorb_steps_in_flight gauge" in text
    assert any(name.startswith("temporal_") for name in samples), "no Temporal SDK metric"
    assert f'xorb_alerts_received_total{{source="reads-{RUN}"}} 3.0' in text
    assert 'xorb_step_duration_seconds_count{action="notify.webhook",outcome=' in text
    first_action = [line for line in text.splitlines() if line.startswith("xorb_alert_to_first_action_seconds_count")]
    assert first_action and float(first_action[0].split()[-1]) >= 3


async def test_reads_survive_redis_going_away(temporal_address: str, tmp_path: Path) -> None:
    redis = RedisServer(tmp_path)
    try:
        settings = make_settings(temporal_address, redis.url)
        async with service(settings) as svc:
            incident_id = await svc.send_alert(_alert("reads-no-redis", "high"))
            cached = await svc.wait_for_incident(incident_id, status="closed")
            assert (await svc.http.get("/readyz")).json() == {
                "status": "ready",
                "temporal": "up",
                "redis": "up",
            }

            redis.stop()

            # The incident is read from its workflow (a Temporal query) instead.
            response = await svc.http.get(f"/v1/incidents/{incident_id}")
            assert response.status_code == 200, response.text
            from_temporal = response.json()
            assert from_temporal["incident_id"] == incident_id
            assert from_temporal["status"] == "closed" and from_temporal["alert_count"] == 1
            assert from_temporal["revision"] == cached["revision"]
            ready = await svc.http.get("/readyz")
            # The API still serves (reads from Temporal, alerts taken): ready, degraded.
            assert ready.status_code == 200
            assert ready.json() == {"status": "degraded", "temporal": "up", "redis": "down"}

            # Alerts are still taken: Temporal holds them; only the cache is missing. (Not waiting
            # for this one to finish: each cache publish now retries before giving up.)
            later = await svc.send_alert(_alert("reads-no-redis-2", "low"))

            async def readable() -> None:
                response = await svc.http.get(f"/v1/incidents/{later}")
                assert response.status_code == 200 and response.json()["alert_count"] == 1

            await eventually(readable)
    finally:
        redis.stop()


async def test_an_incident_no_worker_answers_for_is_503_with_retry_after_not_500(
    svc: RunningService, temporal_client: Client
) -> None:
    """Its workflow sits on a task queue nobody polls: the read says so (503, Retry-After), never a 500."""
    client = temporal_client
    incident_id = "incident-" + uuid.uuid4().hex[:24]
    alert = GenericAlert.model_validate(_alert("reads-no-worker", "high")).to_alert()
    envelope = AlertEnvelope(alert=alert, fingerprint=fingerprint(alert), received_at=datetime.now(UTC))
    request = IncidentInput(incident_id=incident_id, correlation_key="reads-no-worker")
    await deliver_alerts(client, "nobody-polls-" + RUN, request, [envelope])
    try:
        # Temporal is asked and given up on after its RPC timeouts (5 s each): more than the client's default 10 s on
        # a busy machine.
        response = await svc.http.get(f"/v1/incidents/{incident_id}", timeout=40)
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"]
        body = response.json()
        assert body["error"] == "unavailable" and "retry later" in body["message"], body
    finally:
        await client.get_workflow_handle(incident_id).terminate("test over")
