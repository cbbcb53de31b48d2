"""Approvals as data: a person's decision, the counted vote, a pending request and the Update's receipt.

The request's `refusal` is the check the PlaybookWorkflow's Update validator runs: who may decide, bound to
one incident and step, one person counted once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class ApprovalDecision(BaseModel):
    """Someone approving (or denying) a pending approval: the Update `approve` / signal `approval_signal`.

    `approver` and `roles` come from the caller's authentication (the API), never from the request body.
    """

    incident_id: str
    step_id: str
    iteration: int | None = Field(None, description="The for_each item, when the approval runs in a loop.")
    approver: str = Field(min_length=1)
    roles: list[str] = Field(default_factory=list)
    approve: bool = True
    comment: str = ""


class ApprovalVote(BaseModel):
    """One counted decision: who, through which role (None: named in `people`), how and when."""

    approver: str
    role: str | None = None
    approve: bool
    comment: str = ""
    at: datetime
    via: Literal["update", "signal", "timeout", "dry-run"] = "update"


class ApprovalRequest(BaseModel):
    """A pending approval, as `GET /v1/approvals` shows it; `round` 0 is the first group, 1+ escalations."""

    incident_id: str
    step_id: str
    iteration: int | None = None
    message: str = ""
    roles: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    required: int = 1
    round: int = 0
    deadline: datetime
    votes: list[ApprovalVote] = Field(default_factory=list)

    def approvals(self) -> int:
        """Approvals counted toward this round."""
        return sum(
            1 for vote in self.votes if vote.approve and self.eligible(vote.approver, [vote.role or ""]) is not False
        )

    def eligible(self, approver: str, roles: Iterable[str]) -> str | Literal[False] | None:
        """The role through which `approver` may decide (None when named in `people`), or False."""
        if approver in self.people:
            return None
        held = set(roles)
        return next((role for role in self.roles if role in held), False)

    def refusal(self, decision: ApprovalDecision) -> str | None:
        """Why this decision cannot count, or None when it can. One sentence for the person who sent it."""
        if decision.incident_id != self.incident_id:
            return f"this approval belongs to incident {self.incident_id}, not {decision.incident_id}"
        if decision.step_id != self.step_id or (
            decision.iteration is not None and decision.iteration != self.iteration
        ):
            return f"this approval is for step {self.step_id!r}, not {decision.step_id!r}"
        if self.eligible(decision.approver, decision.roles) is False:
            who = [*(f"role {r}" for r in self.roles), *self.people]
            return f"{decision.approver} may not decide step {self.step_id!r} (allowed: {', '.join(who)})"
        if any(vote.approver == decision.approver for vote in self.votes):
            return f"{decision.approver} has already decided step {self.step_id!r}: one person counts once"
        return None


class ApprovalReceipt(BaseModel):
    """What the `approve` Update returns: the vote counted, and where the approval stands."""

    step_id: str
    iteration: int | None = None
    approvals: int
    required: int
    outcome: Literal["pending", "approved", "denied"]
