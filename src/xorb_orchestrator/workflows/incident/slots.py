"""An incident's response slot (MAX_PARALLEL_WORKFLOWS): claimed from the deployment's coordinator, released by
signal. New executions claim it while the incident is being assessed (the claim-while-assessing patch), so the
first action is scheduled one workflow task earlier."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.activities.slots import SlotActivities
    from xorb_orchestrator.models.enrichment import Enrichment
    from xorb_orchestrator.models.ids import slot_coordinator_id
    from xorb_orchestrator.models.incident import IncidentView
    from xorb_orchestrator.models.plan import Plan
    from xorb_orchestrator.models.workflow_io import SlotRequest
    from xorb_orchestrator.workflows import policies
    from xorb_orchestrator.workflows.incident.assessment import assess_in_one
    from xorb_orchestrator.workflows.response_slots import ResponseSlotsWorkflow


def slot_request(view: IncidentView) -> SlotRequest:
    return SlotRequest(incident_id=view.incident_id, severity_id=view.severity_id, requested_at=workflow.now())


def start_claim(slot: SlotRequest) -> workflow.ActivityHandle[bool]:
    """Ask for a slot: the activity answers True when it is the incident's now, False when it queued for one."""
    return workflow.start_activity_method(
        SlotActivities.claim_slot,
        slot,
        start_to_close_timeout=policies.BOOKKEEPING_TIMEOUT,
        retry_policy=policies.BOOKKEEPING_RETRY,
    )


async def assess_claiming(view: IncidentView) -> tuple[Enrichment, Plan, bool]:
    """Enrichment, plan, and whether the slot was granted at once: the claim runs beside the assessment (the
    slot does not depend on the plan), so both answers come back in the same workflow task."""
    claim = start_claim(slot_request(view))
    try:
        enrichment, plan = await assess_in_one(view)
    except (Exception, asyncio.CancelledError):
        # The claim may still be granted: let it land, then give the slot back (a queued ask is dropped too).
        await workflow.wait([claim])
        await release_slot(view.incident_id)
        raise
    return enrichment, plan, await claim


async def release_slot(incident_id: str) -> None:
    try:
        coordinator = slot_coordinator_id(workflow.info().task_queue)
        handle = workflow.get_external_workflow_handle_for(ResponseSlotsWorkflow.run, coordinator)
        await handle.signal(ResponseSlotsWorkflow.release, incident_id)
    except FailureError as err:
        # The coordinator audits its holders, so a lost release only delays the next grant.
        workflow.logger.warning("could not release response slot: %s", err)
