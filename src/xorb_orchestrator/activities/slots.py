"""Talking to the response-slot coordinator that enforces MAX_PARALLEL_WORKFLOWS deployment-wide."""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from xorb_orchestrator.config import Settings
from xorb_orchestrator.models.ids import slot_coordinator_id
from xorb_orchestrator.models.workflow_io import SlotCoordinatorInput, SlotRequest
from xorb_orchestrator.models.workflow_names import ACQUIRE_SLOT, CLAIM_SLOT, RESPONSE_SLOTS_WORKFLOW

# Temporal admits 10 Updates in flight per workflow: each worker sends at most this many claims at a time, and
# an incident that would wait for one asks by signal instead (it then waits for the grant signal, as before).
CLAIMS_IN_FLIGHT = 4


class SlotActivities:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._claims = asyncio.Semaphore(CLAIMS_IN_FLIGHT)

    @activity.defn(name="slots.claim")
    async def claim_slot(self, request: SlotRequest) -> bool:
        """Ask for a slot and hear at once whether it is ours (True), or queue for the grant signal (False).
        Starts the coordinator if it is not running."""
        if self._claims.locked():
            await self.request_slot(request)
            return False
        request = request.model_copy(update={"limit": self._settings.max_parallel_workflows})
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            RESPONSE_SLOTS_WORKFLOW,  # by name: activities sit below workflows/ in the layers
            SlotCoordinatorInput(limit=request.limit),
            id=slot_coordinator_id(self._settings.temporal_task_queue),
            task_queue=self._settings.temporal_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        async with self._claims:
            try:
                granted: bool = await self._client.execute_update_with_start_workflow(
                    CLAIM_SLOT, request, start_workflow_operation=start, result_type=bool
                )
                return granted
            except RPCError as exc:
                if exc.status != RPCStatusCode.RESOURCE_EXHAUSTED:  # too many Updates in flight elsewhere
                    raise
        await self.request_slot(request)
        return False

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
