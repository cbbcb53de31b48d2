"""Waiting for the response-slot coordinator to reach a state, read by its query."""

from __future__ import annotations

import asyncio
import time

from temporalio.client import Client

from xorb_orchestrator.models.ids import slot_coordinator_id
from xorb_orchestrator.models.workflow_io import SlotCoordinatorView
from xorb_orchestrator.workflows.response_slots import ResponseSlotsWorkflow


async def wait_for_slots(client: Client, task_queue: str, holders: int, waiting: int) -> SlotCoordinatorView:
    handle = client.get_workflow_handle(slot_coordinator_id(task_queue))
    deadline = time.monotonic() + 20
    while True:
        state = await handle.query(ResponseSlotsWorkflow.state)
        if len(state.holders) == holders and len(state.waiting) == waiting:
            return state
        assert time.monotonic() < deadline, f"expected {holders} holders, {waiting} waiting: {state}"
        await asyncio.sleep(0.1)
