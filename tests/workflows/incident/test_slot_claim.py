"""An incident claims its response slot while it is being assessed, and gives it back if the assessment fails."""

from __future__ import annotations

import asyncio

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.support.slots import wait_for_slots
from tests.support.stack import make_settings, service
from xorb_orchestrator.activities.incident import IncidentActivities
from xorb_orchestrator.models.workflow_io import AssessInput
from xorb_orchestrator.models.workflow_names import RELEASE_SLOT

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(90)]


@activity.defn(name="incident.assess")
async def assessment_that_fails(self: IncidentActivities, request: AssessInput) -> None:
    raise ApplicationError("the response policy cannot be read", non_retryable=True)


async def test_a_failed_assessment_gives_the_claimed_slot_back(
    temporal_address: str, redis_server, temporal_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(IncidentActivities, "assess_incident", assessment_that_fails)
    settings = make_settings(temporal_address, redis_server.url, MAX_PARALLEL_WORKFLOWS=1)
    async with service(settings) as svc:
        incident_id = await svc.send_alert(
            {"title": "Port scan", "severity": "high", "source": "ids-1", "observables": {"src_ip": "10.9.8.7"}}
        )
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(temporal_client.get_workflow_handle(incident_id).result(), 30)
        history = await temporal_client.get_workflow_handle(incident_id).fetch_history()
        scheduled = [
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        assert scheduled == ["slots.claim", "incident.assess"]  # side by side, in the first workflow task
        released = [
            e.signal_external_workflow_execution_initiated_event_attributes.signal_name
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED
        ]
        assert released == [RELEASE_SLOT]
        # With a cap of one, the slot it held is free again for the next incident.
        await wait_for_slots(temporal_client, settings.temporal_task_queue, holders=0, waiting=0)
