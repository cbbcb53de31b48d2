"""The Temporal worker: registers every workflow and activity of the package (actions from the registry)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from xorb_orchestrator.activities.actions.registry import ActionDeps, action_activities
from xorb_orchestrator.activities.incident import IncidentActivities
from xorb_orchestrator.activities.slots import SlotActivities
from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.workflows.incident.workflow import IncidentWorkflow
from xorb_orchestrator.workflows.playbook.workflow import PlaybookWorkflow
from xorb_orchestrator.workflows.response_slots import ResponseSlotsWorkflow

WORKFLOWS = [IncidentWorkflow, ResponseSlotsWorkflow, PlaybookWorkflow]


def build_worker(client: Client, settings: Settings, cache: IncidentCache, http: httpx.AsyncClient) -> Worker:
    """A worker on the configured task queue with all workflows and activities.

    MAX_PARALLEL_WORKFLOWS is enforced deployment-wide by ResponseSlotsWorkflow, not here; the
    activity concurrency below only protects this one process.
    """
    incident = IncidentActivities(settings, cache)
    slots = SlotActivities(client, settings)
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=WORKFLOWS,
        activities=[
            incident.enrich_incident,
            incident.plan_incident,
            incident.publish_incident,
            slots.request_slot,
            slots.find_closed,
            # Every response action (notify.webhook, http.request, data.*): a plan step names one of these.
            *action_activities(ActionDeps(settings, http)),
        ],
        max_concurrent_activities=100,
        # On SIGTERM, let in-flight actions finish briefly before they are cancelled (and retried elsewhere).
        graceful_shutdown_timeout=timedelta(seconds=5),
    )
