"""A re-delivery the cache forgot never starts a second response: the new incident asks the earlier ones.

The API refuses re-deliveries by their fingerprint in Redis; when Redis was flushed or down (or the API answered
503 for an alert Temporal had recorded after all), the alert reaches a new incident of its key. That incident
asks the key's recent incidents (running: by query; closed: by the fingerprints memo they leave) and counts
what they took as duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from temporalio.client import Client, WorkflowExecutionStatus

from tests.support.stack import RedisServer, dev_temporal, make_settings, service
from xorb_orchestrator.models.alert import Alert, AlertEnvelope
from xorb_orchestrator.models.incident import IncidentView
from xorb_orchestrator.models.workflow_io import IncidentInput
from xorb_orchestrator.models.workflow_names import FINGERPRINTS_MEMO
from xorb_orchestrator.services.correlation import fingerprint
from xorb_orchestrator.services.incident_client import IncidentNotFound, deliver_alerts, query_incident
from xorb_orchestrator.sources.generic_alert import GenericAlert
from xorb_orchestrator.workflows.incident.workflow import IncidentWorkflow

pytestmark = pytest.mark.timeout(90)


def beacon(rule: str, event_id: str, dest: str = "203.0.113.50") -> dict[str, object]:
    return {
        "id": event_id,
        "title": "Outbound C2 beacon",
        "severity": "high",
        "source": "redelivery-test",
        "rule": rule,
        "observables": {"src_ip": "10.0.0.7", "dest_ip": dest},
    }


def envelope(body: dict[str, object]) -> AlertEnvelope:
    alert: Alert = GenericAlert.model_validate(body).to_alert()
    return AlertEnvelope(alert=alert, fingerprint=fingerprint(alert), received_at=datetime.now(UTC))


async def wait_closed(client: Client, incident_id: str, run_id: str | None = None) -> None:
    await client.get_workflow_handle(incident_id, run_id=run_id).result()


async def test_resent_after_close_and_cache_flush_reaches_a_new_run_that_does_not_answer_again(
    tmp_path: Path,
) -> None:
    """Without a correlation window a closed incident's id starts a new run for the next alert: a re-sent alert
    (the cache flushed in between) must only be counted there, never answered a second time."""
    own_redis = RedisServer(tmp_path)
    redis = aioredis.Redis.from_url(own_redis.url)
    try:
        async with dev_temporal() as env:  # several runs of one id: kept out of the session's namespace
            address = str(env.client.service_client.config.target_host)
            settings = make_settings(address, own_redis.url, XORB_CORRELATION_WINDOW_SECONDS=0)
            async with service(settings) as svc:
                body = beacon("redeliver-" + uuid.uuid4().hex[:8], "evt-" + uuid.uuid4().hex)
                incident_id = await svc.send_alert(body)
                await wait_closed(env.client, incident_id)
                first = await query_incident(env.client, incident_id)
                assert first.plan is not None and first.alert_count == 1
                await redis.flushall()
                assert await svc.send_alert(body) == incident_id  # the API could not tell: a new run took it
                newest = env.client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)
                second = await newest.result()
                assert second.redelivery_of == [incident_id]
                assert second.alert_count == 0 and second.duplicate_count == 1
                assert second.plan is None and second.steps == [] and second.playbook_run is None
                assert second.status == "closed"
                runs = [e async for e in env.client.list_workflows(f"WorkflowId = '{incident_id}'")]
                assert len(runs) == 2
                view = await svc.wait_for_view(incident_id, lambda v: v["redelivery_of"] == [incident_id], 15)
                assert view["status"] == "closed"
    finally:
        await redis.aclose()
        own_redis.stop()


async def test_a_running_incident_is_asked_and_a_new_alert_still_opens_the_response(
    temporal_address: str, temporal_client: Client, redis_server: RedisServer
) -> None:
    """The earlier incident is still open (lingering in its window): the newer one asks it by query. The
    newer incident then waits, holding only the duplicate, until a new alert of its own opens its response."""
    settings = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=600)
    key = uuid.uuid4().hex[:24]
    rule = "redeliver-" + uuid.uuid4().hex[:8]
    resent = envelope(beacon(rule, "evt-" + uuid.uuid4().hex))
    queue = settings.temporal_task_queue
    earlier = IncidentInput(incident_id=f"incident-{key}-a", correlation_key=key, linger_seconds=600)
    later = IncidentInput(incident_id=f"incident-{key}-b", correlation_key=key, linger_seconds=2)
    async with service(settings):
        try:
            await deliver_alerts(temporal_client, queue, earlier, [resent])
            await _wait_view(temporal_client, earlier.incident_id, lambda v: v.plan is not None)
            await deliver_alerts(temporal_client, queue, later, [resent])
            shell = await _wait_view(temporal_client, later.incident_id, lambda v: v.duplicate_count == 1)
            assert shell.redelivery_of == [earlier.incident_id]
            assert shell.alert_count == 0 and shell.plan is None and shell.status == "open"
            await deliver_alerts(temporal_client, queue, later, [envelope(beacon(rule, "evt-" + uuid.uuid4().hex))])
            await wait_closed(temporal_client, later.incident_id)
            answered = await query_incident(temporal_client, later.incident_id)
            assert answered.alert_count == 1 and answered.duplicate_count == 1
            assert answered.plan is not None and answered.status == "closed"
            assert answered.redelivery_of == [earlier.incident_id]
        finally:
            await temporal_client.get_workflow_handle(earlier.incident_id).terminate("test done")


async def test_a_closed_incident_leaves_its_fingerprints_for_the_next_one(
    temporal_address: str, temporal_client: Client, redis_server: RedisServer
) -> None:
    settings = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=0)
    key = uuid.uuid4().hex[:24]
    resent = envelope(beacon("redeliver-" + uuid.uuid4().hex[:8], "evt-" + uuid.uuid4().hex))
    queue = settings.temporal_task_queue
    earlier = IncidentInput(incident_id=f"incident-{key}-a", correlation_key=key, linger_seconds=0)
    later = IncidentInput(incident_id=f"incident-{key}-b", correlation_key=key, linger_seconds=0)
    async with service(settings):
        await deliver_alerts(temporal_client, queue, earlier, [resent])
        await wait_closed(temporal_client, earlier.incident_id)
        described = await temporal_client.get_workflow_handle(earlier.incident_id).describe()
        assert described.status == WorkflowExecutionStatus.COMPLETED
        assert await described.memo_value(FINGERPRINTS_MEMO) == [resent.fingerprint]
        await deliver_alerts(temporal_client, queue, later, [resent])
        await wait_closed(temporal_client, later.incident_id)
        view = await query_incident(temporal_client, later.incident_id)
        assert view.redelivery_of == [earlier.incident_id]
        assert view.alert_count == 0 and view.duplicate_count == 1 and view.plan is None
        assert view.status == "closed"


async def _wait_view(
    client: Client, incident_id: str, ready: Callable[[IncidentView], bool], timeout: float = 20
) -> IncidentView:
    deadline = time.monotonic() + timeout
    view: IncidentView | None = None
    while True:
        with contextlib.suppress(IncidentNotFound):  # not yet opened
            view = await query_incident(client, incident_id)
            if ready(view):
                return view
        assert time.monotonic() < deadline, f"{incident_id} did not get there: {view}"
        await asyncio.sleep(0.2)
