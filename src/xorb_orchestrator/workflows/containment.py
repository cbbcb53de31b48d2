"""ContainmentWorkflow: keeps an incident's containment (a block, an isolation) in place for its time, then undoes
it — on a durable timer, so it ends on time whatever restarts, and even after the incident has closed.

Started by the incident (id `containment-<incident id>`, abandoned when the incident closes) with the undo records
and receipts of its run. `release` ends it early (a person, or the kill switch's rollback); `extend` moves its end
(a person, at most MAX_EXTENSION ahead). Each undo runs exactly once (UndoLedger pops before it runs), retried by
its policy; one that still fails leaves the containment `failed_undo` and tells the SOC channel — never forgotten.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.activities.containment import ContainmentActivities
    from xorb_orchestrator.models.containment import (
        MAX_EXTENSION,
        ContainmentSummary,
        ExtendRequest,
        ReleaseRequest,
    )
    from xorb_orchestrator.models.run_records import UndoRecord
    from xorb_orchestrator.models.workflow_io import ContainmentInput
    from xorb_orchestrator.models.workflow_names import CONTAINMENT_WORKFLOW
    from xorb_orchestrator.playbook import format_duration
    from xorb_orchestrator.workflows import patches
    from xorb_orchestrator.workflows.playbook.actions import call_action, temporal_retry
    from xorb_orchestrator.workflows.playbook.compensation import UndoLedger, shielded
    from xorb_orchestrator.workflows.policies import BOOKKEEPING_RETRY, BOOKKEEPING_TIMEOUT
    from xorb_orchestrator.workflows.waiting import wait_until


@workflow.defn(name=CONTAINMENT_WORKFLOW)
class ContainmentWorkflow:
    @workflow.init
    def __init__(self, request: ContainmentInput) -> None:
        self._summary = ContainmentSummary(
            workflow_id=workflow.info().workflow_id,
            incident_id=request.incident.incident_id,
            title=request.incident.title,
            until=request.until,
            reason=request.reason,
            undo=request.undo,
            effects=request.effects,
        )
        self._release: ReleaseRequest | None = None

    @workflow.query
    def state(self) -> ContainmentSummary:
        return self._summary

    @workflow.signal
    def release(self, request: ReleaseRequest) -> None:
        """End the containment now (the first release counts)."""
        if self._release is None:
            self._release = request

    @workflow.update
    def extend(self, request: ExtendRequest) -> ContainmentSummary:
        """Move the end to `request.until` (the timer is re-armed by the run loop)."""
        self._summary.until = request.until
        note = f"{workflow.now():%Y-%m-%d %H:%M}Z {request.by}: until {request.until:%Y-%m-%d %H:%M}Z"
        self._summary.extended = [*self._summary.extended, note + (f" ({request.reason})" if request.reason else "")][
            -100:
        ]
        return self._summary

    @extend.validator
    def _extendable(self, request: ExtendRequest) -> None:
        if self._release is not None or self._summary.status != "active":
            raise ValueError(f"containment {self._summary.workflow_id} is no longer active")
        now = workflow.now()
        if request.until <= now:
            raise ValueError("the new end is in the past: release it instead")
        if request.until - now > MAX_EXTENSION:
            raise ValueError(f"the new end is more than {format_duration(MAX_EXTENSION)} away")

    def _moved(self, until: datetime) -> Callable[[], bool]:
        """Released, or its end moved away from `until`."""
        return lambda: self._release is not None or self._summary.until != until

    @workflow.run
    async def run(self, request: ContainmentInput) -> ContainmentSummary:
        while self._release is None:
            remaining = self._summary.until - workflow.now()
            if remaining.total_seconds() <= 0:
                break
            moved = await wait_until(self._moved(self._summary.until), remaining)
            if not moved:  # the timer fired with the end unchanged: it is time (whatever a rounding left over)
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        ledger = UndoLedger(list(request.undo))
        await shielded(lambda: ledger.run(request.incident, False, frozenset()))
        summary = self._summary
        summary.undo = list(reversed(ledger.done))  # in the order they were put in place
        summary.released_at = workflow.now()
        summary.released_by = self._release.by if self._release else "expiry"
        failed = [u for u in ledger.done if u.status == "failed"]
        if not workflow.patched(patches.FAILED_UNDO_NOTICE.id):
            summary.status = "failed" if failed else "released"
            return summary
        summary.status = "failed_undo" if failed else "released"
        if failed:
            await self._tell_failed(request, failed)
        try:
            await workflow.execute_activity_method(
                ContainmentActivities.ended,
                summary,
                start_to_close_timeout=BOOKKEEPING_TIMEOUT,
                retry_policy=BOOKKEEPING_RETRY,
            )
        except ActivityError:
            workflow.logger.warning("containment %s ended; its metrics could not be counted", summary.workflow_id)
        return summary

    async def _tell_failed(self, request: ContainmentInput, failed: list[UndoRecord]) -> None:
        """Tell the SOC channel: the effect may still be in place, and a person must take it back."""
        what = "; ".join(f"{u.action} {u.args}: {u.error}" for u in failed)[:1500]
        text = (
            f"Incident {request.incident.incident_id}: containment {self._summary.workflow_id} could NOT be undone "
            f"({what}). The effect may still be in place: undo it by hand."
        )
        try:
            await call_action(
                "notify.webhook",
                key=f"{self._summary.workflow_id}/failed-undo",
                args={"text": text},
                incident=request.incident,
                timeout=None,
                retry=temporal_retry(None, default_attempts=5),
                dry_run=False,
                undo=True,
            )
        except ActivityError:
            workflow.logger.error("containment %s: undo failed and the SOC channel could not be told", text)
