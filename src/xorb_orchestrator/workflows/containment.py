"""ContainmentWorkflow: keeps an incident's containment (a block, an isolation) in place for its time, then undoes
it — on a durable timer, so it ends on time whatever restarts, and even after the incident has closed.

Started by the incident (id `containment-<incident id>`, abandoned when the incident closes) with the undo records
of its run. `release` ends it early. Each undo runs exactly once (UndoLedger pops before it runs).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.models.containment import ContainmentSummary, ReleaseRequest
    from xorb_orchestrator.models.workflow_io import ContainmentInput
    from xorb_orchestrator.models.workflow_names import CONTAINMENT_WORKFLOW
    from xorb_orchestrator.workflows.playbook.compensation import UndoLedger, shielded
    from xorb_orchestrator.workflows.waiting import wait_until


@workflow.defn(name=CONTAINMENT_WORKFLOW)
class ContainmentWorkflow:
    @workflow.init
    def __init__(self, request: ContainmentInput) -> None:
        self._summary = ContainmentSummary(
            workflow_id=workflow.info().workflow_id, until=request.until, reason=request.reason, undo=request.undo
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

    @workflow.run
    async def run(self, request: ContainmentInput) -> ContainmentSummary:
        remaining = request.until - workflow.now()
        if remaining.total_seconds() > 0:
            await wait_until(lambda: self._release is not None, remaining)
        ledger = UndoLedger(list(request.undo))
        await shielded(lambda: ledger.run(request.incident, False, frozenset()))
        summary = self._summary
        summary.undo = list(reversed(ledger.done))  # in the order they were put in place
        summary.released_at = workflow.now()
        summary.released_by = self._release.by if self._release else "expiry"
        summary.status = "failed" if any(u.status == "failed" for u in ledger.done) else "released"
        return summary
