"""ResponseSlotsWorkflow: the deployment-wide cap on incidents executing response steps.

One long-lived workflow (id `xorb-response-slots`) holds the slots. Incidents ask for one with the
`claim` update (via an activity, which starts the coordinator if needed): answered `True` when a slot is
theirs at once, else they are queued and wait for `slot_granted`; older incidents ask with the `acquire`
signal and always wait for `slot_granted`. They give it back with `release`. Because the state lives in
Temporal, the cap holds across any number of workers and survives restarts; waiting incidents are granted most
severe first.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.activities.slots import SlotActivities
    from xorb_orchestrator.models.slots import next_grants
    from xorb_orchestrator.models.workflow_io import SlotCoordinatorInput, SlotCoordinatorView, SlotRequest
    from xorb_orchestrator.models.workflow_names import (
        ACQUIRE_SLOT,
        CLAIM_SLOT,
        RELEASE_SLOT,
        RESPONSE_SLOTS_WORKFLOW,
        SLOT_GRANTED,
    )
    from xorb_orchestrator.workflows.policies import BOOKKEEPING_RETRY, BOOKKEEPING_TIMEOUT
    from xorb_orchestrator.workflows.waiting import wait_until

# With waiters queued, check this often whether a holder vanished without releasing.
AUDIT_INTERVAL = timedelta(seconds=60)
HISTORY_LIMIT = 5_000


@workflow.defn(name=RESPONSE_SLOTS_WORKFLOW)
class ResponseSlotsWorkflow:
    @workflow.init
    def __init__(self, state: SlotCoordinatorInput) -> None:
        self._limit = state.limit
        self._holders: list[str] = list(state.holders)
        self._queue: list[SlotRequest] = list(state.queue)
        # Grants decided but not yet signalled. Holders are re-signalled after continue-as-new.
        self._to_signal: list[str] = list(state.holders)

    @workflow.signal(name=ACQUIRE_SLOT)
    def acquire(self, request: SlotRequest) -> None:
        self._limit = max(1, request.limit)
        if request.incident_id in self._holders:
            self._to_signal.append(request.incident_id)  # a repeated ask: the grant may have been lost
        elif all(q.incident_id != request.incident_id for q in self._queue):
            self._queue.append(request)
        self._grant()

    @workflow.update(name=CLAIM_SLOT)
    def claim(self, request: SlotRequest) -> bool:
        """`acquire`, answered: True when the incident holds a slot now (then no grant signal follows, which
        saves the incident a workflow task before its first action), False when it waits in the queue."""
        self.acquire(request)
        if request.incident_id not in self._holders:
            return False
        self._to_signal = [held for held in self._to_signal if held != request.incident_id]
        return True

    @workflow.signal(name=RELEASE_SLOT)
    def release(self, incident_id: str) -> None:
        self._drop(incident_id)
        self._grant()

    @workflow.query
    def state(self) -> SlotCoordinatorView:
        return SlotCoordinatorView(limit=self._limit, holders=list(self._holders), waiting=list(self._queue))

    def _drop(self, incident_id: str) -> None:
        self._holders = [h for h in self._holders if h != incident_id]
        self._queue = [q for q in self._queue if q.incident_id != incident_id]

    def _grant(self) -> None:
        for request in next_grants(self._holders, self._queue, self._limit):
            self._queue.remove(request)
            self._holders.append(request.incident_id)
            self._to_signal.append(request.incident_id)

    @workflow.run
    async def run(self, state: SlotCoordinatorInput) -> None:
        while True:
            woke = await wait_until(
                lambda: bool(self._to_signal), AUDIT_INTERVAL if self._queue else timedelta(hours=1)
            )
            while self._to_signal:
                batch, self._to_signal = self._to_signal, []
                # All grants of this wake-up in one workflow task: one at a time, each signal cost a
                # round trip to the server, which capped grants at ~8 a second.
                await asyncio.gather(*(self._tell_granted(incident_id) for incident_id in batch))
            if not woke and self._queue and self._holders:
                await self._free_vanished_holders()
            info = workflow.info()
            if info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT:
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._to_signal:
                    workflow.continue_as_new(
                        SlotCoordinatorInput(limit=self._limit, holders=self._holders, queue=self._queue)
                    )

    async def _tell_granted(self, incident_id: str) -> None:
        try:
            await workflow.get_external_workflow_handle(incident_id).signal(SLOT_GRANTED)
        except FailureError:
            workflow.logger.warning("slot holder %s is gone; freeing its slot", incident_id)
            self._drop(incident_id)
            self._grant()

    async def _free_vanished_holders(self) -> None:
        closed = await workflow.execute_activity_method(
            SlotActivities.find_closed,
            list(self._holders),
            start_to_close_timeout=BOOKKEEPING_TIMEOUT,
            retry_policy=BOOKKEEPING_RETRY,
        )
        for incident_id in closed:
            workflow.logger.warning("slot holder %s closed without releasing; freeing its slot", incident_id)
            self._drop(incident_id)
        self._grant()
