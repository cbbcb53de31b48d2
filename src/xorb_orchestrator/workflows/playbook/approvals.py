"""Approvals: the pending approvals of a run, the check behind the `approve` Update's validator, and the wait.

Each approval waits round by round (the group, then its escalations), every round bounded by its timeout;
when a round times out, its on_timeout denies, approves or escalates to the next group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.models.playbook_run import (
        ApprovalDecision,
        ApprovalReceipt,
        ApprovalRequest,
        ApprovalVote,
        GatedRequest,
    )
    from xorb_orchestrator.playbook import ApprovalStep, OnTimeout, format_duration
    from xorb_orchestrator.workflows.waiting import wait_until

Outcome = Literal["pending", "approved", "denied"]


@dataclass
class PendingApproval:
    request: ApprovalRequest
    outcome: Outcome = "pending"
    reason: str = ""
    timed_out: bool = False  # nobody decided in time; on_timeout chose the outcome
    outputs: dict[str, str] = field(default_factory=dict)  # the values given with the approval that approved

    @property
    def approvers(self) -> list[str]:
        return [vote.approver for vote in self.request.votes if vote.approve and vote.via in ("update", "signal")]


class ApprovalDesk:
    """The approvals a run is waiting for, keyed by (step id, for_each iteration)."""

    def __init__(self, incident_id: str) -> None:
        self.incident_id = incident_id
        self.pending: dict[tuple[str, int | None], PendingApproval] = {}
        self.refused: list[str] = []  # signals that could not count (a signal cannot be rejected to its sender)

    def requests(self) -> list[ApprovalRequest]:
        return [pending.request for pending in self.pending.values()]

    def refusal(self, decision: ApprovalDecision) -> str | None:
        """Why `decision` cannot count (what the Update validator rejects with), or None."""
        if decision.incident_id != self.incident_id:
            return f"this run belongs to incident {self.incident_id}, not {decision.incident_id}"
        found = self._find(decision)
        return found if isinstance(found, str) else found.request.refusal(decision)

    def record(self, decision: ApprovalDecision, via: Literal["update", "signal"]) -> ApprovalReceipt:
        """Count a decision that passed `refusal`: one denial denies, `required` approvals approve."""
        pending = self._find(decision)
        assert not isinstance(pending, str)
        request = pending.request
        role = request.eligible(decision.approver, decision.roles)
        # `refusal` made an approval's values exactly the names asked; a denial gives none (any sent are dropped).
        outputs = dict(decision.outputs) if decision.approve else {}
        vote = ApprovalVote(
            approver=decision.approver,
            role=role or None,
            approve=decision.approve,
            comment=decision.comment,
            at=workflow.now(),
            via=via,
            outputs=outputs,
        )
        request.votes.append(vote)
        if not decision.approve:
            pending.outcome = "denied"
            pending.reason = f"denied by {decision.approver}" + (f": {decision.comment}" if decision.comment else "")
        elif request.approvals() >= request.required:
            pending.outcome, pending.outputs = "approved", outputs
        return ApprovalReceipt(
            step_id=request.step_id,
            iteration=request.iteration,
            approvals=request.approvals(),
            required=request.required,
            outcome=pending.outcome,
        )

    async def ask(
        self,
        step: ApprovalStep,
        iteration: int | None,
        message: str,
        requests: list[GatedRequest] | None = None,
        asking: Callable[[int], Awaitable[None]] | None = None,
    ) -> PendingApproval:
        """Wait for the decision, round after round; every round is bounded by its timeout. `asking(n)` is awaited
        as round n starts (0, then 1, 2 ...: escalations), once the approval can be decided: to tell its
        approvers, who may answer at once."""
        rounds = step.approval.rounds()
        first = rounds[0]
        pending = PendingApproval(
            ApprovalRequest(
                incident_id=self.incident_id,
                step_id=step.id,
                iteration=iteration,
                message=message,
                deadline=workflow.now() + first.timeout,
                outputs=list(step.approval.outputs),
                requests=list(requests or ()),
            )
        )
        key = (step.id, iteration)
        self.pending[key] = pending
        try:
            for number, group in enumerate(rounds):
                request = pending.request
                request.round, request.required = number, group.required
                request.roles, request.people = list(group.approvers.roles), list(group.approvers.people)
                request.deadline = workflow.now() + group.timeout
                if asking is not None:  # decidable from here on: a person told may answer at once
                    await asking(number)
                left = request.deadline - workflow.now()  # the deadline holds, however long telling took
                decided = pending.outcome != "pending"
                if decided or (left > timedelta(0) and await wait_until(lambda: pending.outcome != "pending", left)):
                    break
                waited = format_duration(group.timeout)
                if group.on_timeout is OnTimeout.APPROVE:
                    request.votes.append(
                        ApprovalVote(approver="timeout", approve=True, at=workflow.now(), via="timeout")
                    )
                    pending.outcome, pending.reason = "approved", f"no decision within {waited}: approved by default"
                elif group.on_timeout is OnTimeout.DENY:
                    pending.outcome, pending.reason = "denied", f"no decision within {waited}: denied"
                    pending.timed_out = True
                else:
                    workflow.logger.info("approval %s escalated after %s", step.id, waited)
            return pending
        finally:
            del self.pending[key]

    def _find(self, decision: ApprovalDecision) -> PendingApproval | str:
        matches = [
            pending
            for (step_id, iteration), pending in self.pending.items()
            if step_id == decision.step_id and decision.iteration in (None, iteration)
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            items = ", ".join(sorted(str(m.request.iteration) for m in matches))
            return f"step {decision.step_id!r} waits for approval in several for_each items ({items}): give iteration"
        waiting = ", ".join(sorted({step_id for step_id, _ in self.pending})) or "none"
        return f"step {decision.step_id!r} is not waiting for an approval (waiting: {waiting})"
