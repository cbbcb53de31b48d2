"""The incident itself tells a reused event id from a re-delivery, and its listed severity follows a later alert.

Issue 14: an alert that carries an event id already seen on other content is another alert (item 8): kept,
counted in `alert_count` and in `reused_id_count`, even when the intake's cache could not tell (Redis flushed or
down); a later, more severe alert (a finding's update, item 3) raises the severity lists filter on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.support.stack import RedisServer, make_settings, service
from xorb_orchestrator.models.alert import Alert, AlertEnvelope
from xorb_orchestrator.models.incident import IncidentView
from xorb_orchestrator.models.search_attributes import SEVERITY_ATTR
from xorb_orchestrator.models.workflow_io import IncidentInput
from xorb_orchestrator.service import WORKFLOWS, workflow_runner
from xorb_orchestrator.services.correlation import fingerprint
from xorb_orchestrator.services.incident_client import IncidentNotFound, deliver_alerts, query_incident
from xorb_orchestrator.sources.generic_alert import GenericAlert

pytestmark = pytest.mark.timeout(90)


def sample(event_id: str, user: str, severity: str = "medium") -> AlertEnvelope:
    """An alert of a sample generator that gives every alert the same id; `user` makes the content differ."""
    body = {
        "id": event_id,
        "title": "sshd: authentication failed",
        "severity": severity,
        "source": "identity-test",
        "rule": "5716",
        "observables": {"src_ip": "198.51.100.23", "user": user},
    }
    alert: Alert = GenericAlert.model_validate(body).to_alert()
    return AlertEnvelope(alert=alert, fingerprint=fingerprint(alert), received_at=datetime.now(UTC))


async def wait_view(
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


async def replays(client: Client, incident_id: str) -> None:
    """The history of the new path replays against the code that wrote it (patch markers included)."""
    history = await client.get_workflow_handle(incident_id).fetch_history()
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=workflow_runner())
    await replayer.replay_workflow(history)


async def test_an_id_reused_on_other_content_is_counted_and_kept_though_the_intake_could_not_tell(
    temporal_address: str, temporal_client: Client, redis_server: RedisServer
) -> None:
    settings = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=0)
    one_id = "1580123327." + uuid.uuid4().hex[:8]
    first, second, third = sample(one_id, "root"), sample(one_id, "admin"), sample(one_id, "oracle")
    incident = IncidentInput(incident_id=f"incident-{uuid.uuid4().hex[:24]}", correlation_key="k", linger_seconds=2)
    async with service(settings):
        # As the intake sends them with its cache away: no alert says it reuses an id.
        assert not any(e.reuses_event_id for e in (first, second, third))
        await deliver_alerts(temporal_client, settings.temporal_task_queue, incident, [first, second])
        await deliver_alerts(temporal_client, settings.temporal_task_queue, incident, [first, third])
        await temporal_client.get_workflow_handle(incident.incident_id).result()
        view = await query_incident(temporal_client, incident.incident_id)
        assert (view.alert_count, view.reused_id_count, view.duplicate_count) == (3, 2, 1)
        assert {o.value for o in view.observables} >= {"root", "admin", "oracle"}
        await replays(temporal_client, incident.incident_id)


async def test_an_id_the_intake_saw_on_other_content_is_counted(
    temporal_address: str, temporal_client: Client, redis_server: RedisServer
) -> None:
    """The intake's cache saw the id on another incident's alert: this incident counts it too."""
    settings = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=0)
    flagged = sample("evt-" + uuid.uuid4().hex, "root").model_copy(update={"reuses_event_id": True})
    incident = IncidentInput(incident_id=f"incident-{uuid.uuid4().hex[:24]}", correlation_key="k", linger_seconds=0)
    async with service(settings):
        await deliver_alerts(temporal_client, settings.temporal_task_queue, incident, [flagged])
        await temporal_client.get_workflow_handle(incident.incident_id).result()
        view = await query_incident(temporal_client, incident.incident_id)
        assert (view.alert_count, view.reused_id_count) == (1, 1)


async def test_a_later_more_severe_alert_raises_the_severity_lists_filter_on(
    temporal_address: str, temporal_client: Client, redis_server: RedisServer
) -> None:
    settings = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=0)
    incident = IncidentInput(incident_id=f"incident-{uuid.uuid4().hex[:24]}", correlation_key="k", linger_seconds=5)
    queue = settings.temporal_task_queue
    handle = temporal_client.get_workflow_handle(incident.incident_id)

    async def listed_severity() -> str | None:
        return (await handle.describe()).typed_search_attributes.get(SEVERITY_ATTR)

    async with service(settings):
        await deliver_alerts(temporal_client, queue, incident, [sample("evt-" + uuid.uuid4().hex, "root", "low")])
        await wait_view(temporal_client, incident.incident_id, lambda v: v.plan is not None)
        assert await listed_severity() == "low"
        await deliver_alerts(temporal_client, queue, incident, [sample("evt-" + uuid.uuid4().hex, "root", "high")])
        await wait_view(temporal_client, incident.incident_id, lambda v: v.alert_count == 2)
        # Never falls: a later, milder alert leaves it where it is.
        await deliver_alerts(temporal_client, queue, incident, [sample("evt-" + uuid.uuid4().hex, "root", "low")])
        await handle.result()
        view = await query_incident(temporal_client, incident.incident_id)
        assert (view.severity, view.alert_count) == ("high", 3)
        assert await listed_severity() == "high"
        await replays(temporal_client, incident.incident_id)
