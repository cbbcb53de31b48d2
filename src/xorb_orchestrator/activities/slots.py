"""Talking to the response-slot coordinator that enforces MAX_PARALLEL_WORKFLOWS deployment-wide."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from xorb_orchestrator.config import Settings
from xorb_orchestrator.models.ids import slot_coordinator_id
from xorb_orchestrator.models.workflow_io import SlotCoordinatorInput, SlotRequest
from xorb_orchestrator.models.workflow_names import ACQUIRE_SLOT, RESPONSE_SLOTS_WORKFLOW


class SlotActivities:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    @activity.defn(name="slots.request")
    async def request_slot(self, request: SlotRequest) -> None:
        """Queue the incident at the coordinator, starting the coordinator if it is not running."""
        request = request.model_copy(update={"limit": self._settings.max_parallel_workflows})
        await self._client.start_workflow(
            RESPONSE_SLOTS_WORKFLOW,  # by name: activities sit below workflows/ in the layers
            SlotCoordinatorInput(limit=request.limit),
            id=slot_coordinator_id(self._settings.temporal_task_queue),
            task_queue=self._settings.temporal_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=ACQUIRE_SLOT,
            start_signal_args=[request],
        )

    @activity.defn(name="slots.find_closed")
    async def find_closed(self, incident_ids: list[str]) -> list[str]:
        """Holders whose incident is no longer running (terminated by hand, say): their slot is free."""
        closed = []
        for incident_id in incident_ids:
            try:
                desc = await self._client.get_workflow_handle(incident_id).describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    closed.append(incident_id)
                    continue
                raise
            if desc.status != WorkflowExecutionStatus.RUNNING:
                closed.append(incident_id)
        return closed
