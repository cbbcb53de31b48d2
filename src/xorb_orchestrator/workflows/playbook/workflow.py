"""PlaybookWorkflow: one run of a validated playbook, durably — the glue between the scheduler and Temporal.

Started (or run as a child of the incident) with id `playbook-<incident id>-<n>` and a PlaybookRunInput
(`PlaybookRunInput.pin(...)`). Steps run as playbook_steps says; approvals arrive as the `approve` Update (or
the `approval_signal` fallback); `state` shows progress. When a step aborts the run, or the run is cancelled,
the compensations of completed steps run newest first, each once, and the run reports what happened.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.models.playbook_run import (
        ApprovalDecision,
        ApprovalReceipt,
        PlaybookRunInput,
        PlaybookRunResult,
        PlaybookRunState,
        RunCarry,
        RunStatus,
        StepRecord,
    )
    from xorb_orchestrator.models.workflow_names import PLAYBOOK_WORKFLOW
    from xorb_orchestrator.playbook import StepState
    from xorb_orchestrator.workflows.playbook.approvals import ApprovalDesk
    from xorb_orchestrator.workflows.playbook.compensation import UndoLedger, shielded
    from xorb_orchestrator.workflows.playbook.scheduler import Done, Failed
    from xorb_orchestrator.workflows.playbook.scope import Scope
    from xorb_orchestrator.workflows.playbook.steps import StepRunner


class ApprovalRefused(ValueError):
    """An approval that cannot count (wrong person, twice, another incident or step): the Update is rejected."""


@workflow.defn(name=PLAYBOOK_WORKFLOW)
class PlaybookWorkflow:
    @workflow.init
    def __init__(self, request: PlaybookRunInput) -> None:
        carried = request.carried
        self._request = request
        self._status = RunStatus.RUNNING
        self._error: str | None = None
        self._states: dict[str, StepState] = dict(carried.states) if carried else {}
        self._records: list[StepRecord] = list(carried.records) if carried else []
        self._desk = ApprovalDesk(request.incident.incident_id)
        self._ledger = UndoLedger(carried.undo if carried else None)
        gates = dict(carried.gates) if carried else {}
        self._runner = StepRunner(request, self._desk, self._ledger, self._records, self._run_child, gates)

    # --- messages ---------------------------------------------------------------------------------

    @workflow.query
    def state(self) -> PlaybookRunState:
        return PlaybookRunState(
            playbook_id=self._request.playbook.id,
            workflow_id=workflow.info().workflow_id,
            playbook_sha256=self._request.playbook_sha256,
            status=self._status,
            dry_run=self._request.dry_run,
            steps=self._records,
            pending_approvals=self._desk.requests(),
            compensations=self._ledger.done,
            error=self._error,
            refused_signals=self._desk.refused,
        )

    @workflow.update
    def approve(self, decision: ApprovalDecision) -> ApprovalReceipt:
        """Approve or deny a pending approval; the validator refuses a decision that cannot count."""
        return self._desk.record(decision, "update")

    @approve.validator
    def _check_approval(self, decision: ApprovalDecision) -> None:
        # Rejected here, the Update never reaches history: the caller gets the sentence, the run is untouched.
        refusal = self._desk.refusal(decision)
        if refusal:
            raise ApprovalRefused(refusal)

    @workflow.signal
    def approval_signal(self, decision: ApprovalDecision) -> None:
        """Fallback for senders that cannot use Updates: checked the same way; a refusal is logged and kept."""
        refusal = self._desk.refusal(decision)
        if refusal:
            workflow.logger.warning("approval signal refused: %s", refusal)
            self._desk.refused.append(f"{decision.approver}: {refusal}")
            return
        self._desk.record(decision, "signal")

    # --- the run ----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: PlaybookRunInput) -> PlaybookRunResult:
        # The pinned hash is taken as given: it was computed where the input was built (PinnedPlaybook.pin).
        # Recomputing it here would fail the replay of every run in flight after a compatible model change.
        start = request.carried.next_index if request.carried else 0
        try:
            end = await self._runner.run_list(
                request.playbook.steps, Scope((self._states,)), start=start, between=self._continue_as_new_if_long
            )
        except asyncio.CancelledError:
            self._status, self._error = RunStatus.CANCELLED, "the run was cancelled"
            await shielded(self._compensate)
            raise
        if isinstance(end, Done):
            self._status = RunStatus.COMPLETED
        else:
            self._status = RunStatus.FAILED
            self._error = end.describe() if isinstance(end, Failed) else f"goto {end.target}: no such later step"
            await shielded(self._compensate)  # a cancellation arriving now must not cut the undo short
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._result()

    async def _run_child(
        self, request: PlaybookRunInput, workflow_id: str, retry: RetryPolicy | None
    ) -> PlaybookRunResult:
        """A `playbook` step's run, as a child of this one; cancelling this run waits for the child's undo."""
        return await workflow.execute_child_workflow(
            PlaybookWorkflow.run,
            request,
            id=workflow_id,
            retry_policy=retry,
            cancellation_type=workflow.ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        )

    async def _compensate(self) -> None:
        await self._ledger.run(self._request.incident, self._request.dry_run, self._runner.mutating)

    async def _continue_as_new_if_long(self, next_index: int) -> None:
        """Between top-level steps the run's whole state is small: carry it into a fresh history.

        A single step (a long for_each, say) cannot be split; its bound is max_items (1000) times its steps.
        """
        info = workflow.info()
        if not info.is_continue_as_new_suggested() and info.get_current_history_length() < self._request.history_limit:
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        carry = RunCarry(
            next_index=next_index,
            states=self._states,
            records=self._records,
            undo=self._ledger.pending,
            gates=self._runner.gates,
        )
        workflow.continue_as_new(self._request.model_copy(update={"carried": carry}))

    def _result(self) -> PlaybookRunResult:
        approvals = set(self._runner.approval_ids)
        return PlaybookRunResult(
            playbook_id=self._request.playbook.id,
            playbook_sha256=self._request.playbook_sha256,
            status=self._status,
            dry_run=self._request.dry_run,
            error=self._error,
            steps=self._records,
            compensations=self._ledger.done,
            pending_undo=self._ledger.pending if self._status is RunStatus.COMPLETED else [],
            states={sid: state.as_context(sid in approvals) for sid, state in self._states.items()},
        )
