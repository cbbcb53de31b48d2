"""Timer-heavy behaviour on the time-skipping test server: the linger window of an incident.

Real workflows and real activities (the worker is built exactly as the service builds it), a real
Redis and a real webhook receiver; only the clock is Temporal's test server's, skipped on demand.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.support.stack import make_settings, time_skipping_temporal
from xorb_orchestrator.config import Settings
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.models.alert import Alert, AlertEnvelope
from xorb_orchestrator.models.incident import IncidentStatus, IncidentView
from xorb_orchestrator.models.search_attributes import SEARCH_ATTRIBUTES
from xorb_orchestrator.models.workflow_io import IncidentInput
from xorb_orchestrator.service import build_worker
from xorb_orchestrator.services.correlation import correlation_key, fingerprint
from xorb_orchestrator.services.incident_client import deliver_alert
from xorb_orchestrator.services.intake import submit_alert
from xorb_orchestrator.workflows.incident.workflow import IncidentWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

LINGER = 600.0


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_temporal() as env:
        # The test server rejects upserts of unregistered search attributes ("search attribute
        # XorbStatus is not defined") and does not implement ListSearchAttributes, which is why
        # ensure_search_attributes() gives up on it; AddSearchAttributes works, so register directly.
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES},
            ),
            timeout=timedelta(seconds=5),
        )
        yield env


class Lingering:
    """One deployment on the time-skipping server: settings, a running worker, its cache."""

    def __init__(self, env: WorkflowEnvironment, settings: Settings, cache: IncidentCache) -> None:
        self.env = env
        self.settings = settings
        self.cache = cache

    @property
    def client(self) -> Client:
        return self.env.client

    async def deliver(self, alert: Alert, incident_id: str | None = None) -> str:
        """Hand the alert straight to its incident, as intake does (bypassing intake's Redis dedup)."""
        key = correlation_key(alert)
        envelope = AlertEnvelope(alert=alert, fingerprint=fingerprint(alert), received_at=datetime.now(UTC))
        incident = IncidentInput(
            incident_id=incident_id or "incident-" + key,
            correlation_key=key,
            linger_seconds=self.settings.correlation_window_seconds,
        )
        await deliver_alert(self.client, self.settings.temporal_task_queue, incident, envelope)
        return incident.incident_id

    def handle(self, incident_id: str) -> WorkflowHandle[IncidentWorkflow, IncidentView]:
        return self.client.get_workflow_handle_for(IncidentWorkflow.run, incident_id)

    async def is_open(self, incident_id: str) -> bool:
        status = (await self.handle(incident_id).describe()).status
        return status == WorkflowExecutionStatus.RUNNING

    async def result(self, incident_id: str) -> IncidentView:
        """The closed incident's final view.

        By run id: asked without one, the test server answers the close-event poll with no event (the
        SDK then raises "No completion event found"). And only handles from start_workflow unlock time
        skipping while awaiting a result, so callers skip the time themselves with env.sleep().
        """
        run_id = (await self.handle(incident_id).describe()).run_id
        handle = self.client.get_workflow_handle_for(IncidentWorkflow.run, incident_id, run_id=run_id)
        return await asyncio.wait_for(handle.result(), timeout=10)

    async def wait_for(
        self, incident_id: str, check: Callable[[IncidentView], bool], timeout: float = 20
    ) -> IncidentView:
        deadline = time.monotonic() + timeout
        view = None
        while time.monotonic() < deadline:
            view = await self.handle(incident_id).query(IncidentWorkflow.state)
            if view is not None and check(view):
                return view
            await asyncio.sleep(0.1)
        raise AssertionError(f"incident {incident_id} not as expected; last seen: {view}")


@pytest_asyncio.fixture(loop_scope="session")
async def lingering(skipping_env: WorkflowEnvironment, redis_server) -> AsyncIterator[Lingering]:
    sink = WebhookSink().start()
    settings = make_settings(
        str(skipping_env.client.service_client.config.target_host),
        redis_server.url,
        XORB_INCIDENT_LINGER_SECONDS=LINGER,
        XORB_NOTIFY_WEBHOOK_URLS=sink.url,
    )
    cache = IncidentCache(settings.redis_url)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            worker = build_worker(skipping_env.client, settings, cache, http)
            async with worker:
                yield Lingering(skipping_env, settings, cache)
    finally:
        await cache.close()
        sink.stop()


def make_alert(title: str, **extra: object) -> Alert:
    return Alert.model_validate(
        {
            "source": "ids-timers",
            "title": title,
            "severity": "medium",
            "rule": "rule-" + uuid.uuid4().hex[:8],
            "observables": [{"type": "ip", "value": "10.9.8.7", "role": "src"}],
            **extra,
        }
    )


def responded(view: IncidentView) -> bool:
    return view.status is IncidentStatus.COMPLETED


async def test_incident_lingers_for_related_alerts_then_closes(lingering: Lingering) -> None:
    env = lingering.env
    first = make_alert("Beacon", event_id="evt-1")
    incident_id = await lingering.deliver(first)
    await lingering.wait_for(incident_id, responded)

    # After its response the incident stays open: a related alert 5 minutes later joins it.
    await env.sleep(timedelta(seconds=300))
    assert await lingering.is_open(incident_id)
    second = first.model_copy(update={"event_id": "evt-2", "title": "Beacon again"})
    assert await lingering.deliver(second) == incident_id
    await lingering.wait_for(incident_id, lambda v: v.alert_count == 2)

    # The quiet window restarted with that alert: 9 more minutes (14 since the first), still open.
    await env.sleep(timedelta(seconds=540))
    assert await lingering.is_open(incident_id)
    third = first.model_copy(update={"event_id": "evt-3"})
    assert await lingering.deliver(third) == incident_id
    view = await lingering.wait_for(incident_id, lambda v: v.alert_count == 3)
    assert view.status is IncidentStatus.COMPLETED and view.duplicate_count == 0
    # It says until when it takes related alerts: LINGER after the last one.
    assert view.accepts_alerts_until is not None and view.closed_at is None

    # It closes after LINGER seconds of quiet: not before, and soon after.
    await env.sleep(timedelta(seconds=LINGER - 10))
    assert await lingering.is_open(incident_id)
    await env.sleep(timedelta(seconds=20))
    closed = await lingering.result(incident_id)
    assert closed.alert_count == 3 and closed.duplicate_count == 0
    assert closed.status is IncidentStatus.CLOSED and closed.closed_at is not None
    assert closed.accepts_alerts_until == closed.closed_at
    assert [step.status.value for step in closed.steps] == ["completed"]


async def test_redelivery_during_linger_counts_as_duplicate(lingering: Lingering) -> None:
    env = lingering.env
    alert = make_alert("Brute force", event_id="evt-bf-1")
    accepted = await submit_alert(lingering.client, lingering.cache, lingering.settings, alert)
    assert not accepted.duplicate
    incident_id = accepted.incident_id
    await lingering.wait_for(incident_id, responded)
    await env.sleep(timedelta(seconds=120))

    # The same event again (a detector's at-least-once delivery) reaching the workflow itself, as
    # when Redis was flushed: it counts as a duplicate, not as a new alert.
    assert await lingering.deliver(alert, incident_id) == incident_id
    view = await lingering.wait_for(incident_id, lambda v: v.duplicate_count == 1)
    assert view.alert_count == 1

    # Through intake with Redis up, the re-delivery is answered from Redis and never reaches Temporal.
    again = await submit_alert(lingering.client, lingering.cache, lingering.settings, alert)
    assert again.duplicate and again.incident_id == incident_id

    await env.sleep(timedelta(seconds=LINGER + 10))
    closed = await lingering.result(incident_id)
    assert (closed.alert_count, closed.duplicate_count) == (1, 1)
