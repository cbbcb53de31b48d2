"""Approvals as data: a person's decision, the counted vote, a pending request and the Update's receipt.

The request's `refusal` is the check the PlaybookWorkflow's Update validator runs: who may decide, bound to
one incident and step, one person counted once, and an approval giving exactly the values the step asks for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from xorb_orchestrator.playbook.approval import MAX_OUTPUTS
from xorb_orchestrator.playbook.metadata import IDENTIFIER_PATTERN

MAX_OUTPUT_CHARS = 4096
# A decision travels in the run's history (the Update) and its values again in the vote and the step's result:
# all of a decision's names and values together stay under this many bytes (UTF-8), whatever the characters.
MAX_OUTPUTS_BYTES = 16 * 1024
_OUTPUT_NAME = re.compile(IDENTIFIER_PATTERN)


def _bounded_outputs(values: dict[str, str]) -> dict[str, str]:
    if len(values) > MAX_OUTPUTS:
        raise ValueError(f"at most {MAX_OUTPUTS} values, got {len(values)}")
    for name, value in values.items():
        if not _OUTPUT_NAME.match(name):
            raise ValueError(f"{name[:70]!r} is not a value name (letters, digits and '_', at most 64)")
        if len(value) > MAX_OUTPUT_CHARS:
            raise ValueError(f"the value of {name!r} is {len(value)} characters long (at most {MAX_OUTPUT_CHARS})")
    size = sum(len(name.encode()) + len(value.encode()) for name, value in values.items())
    if size > MAX_OUTPUTS_BYTES:
        raise ValueError(f"the values are {size} bytes together (at most {MAX_OUTPUTS_BYTES} in UTF-8)")
    return values


# Values given with an approval, name -> text: bounded in number, length and bytes (they live in history).
ApprovalOutputs = Annotated[dict[str, str], AfterValidator(_bounded_outputs)]


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
    outputs: ApprovalOutputs = Field(
        default_factory=dict,
        description="The values the step asks for (name -> text), given with an approval; a denial's are ignored.",
    )


class ApprovalVote(BaseModel):
    """One counted decision: who, through which role (None: named in `people`), how and when."""

    approver: str
    role: str | None = None
    approve: bool
    comment: str = ""
    at: datetime
    via: Literal["update", "signal", "timeout", "dry-run", "policy"] = "update"
    outputs: ApprovalOutputs = Field(default_factory=dict, description="The values given with this approval.")


class GatedRequest(BaseModel):
    """A request an approval decides, exactly as it will be sent: the gated step, its action and rendered args.

    The step runs only with these args: if they render differently when it runs, it fails instead."""

    step_id: str
    action: str
    args: dict[str, Any] = Field(default_factory=dict)


class Gate(BaseModel):
    """How the approval gating one step instance decided, and the request it showed (carried across
    continue-as-new: the gated step may run in a later run of the chain)."""

    approval_id: str
    approved: bool
    request: GatedRequest
    approvers: list[str] = Field(default_factory=list, description="the people whose approval decided it")


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
    outputs: list[str] = Field(default_factory=list, description="The names of the values an approval must give.")
    requests: list[GatedRequest] = Field(
        default_factory=list, description="The requests this approval decides (its `gates`), as they will be sent."
    )

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
        return self.outputs_refusal(decision) if decision.approve else None  # a denial's values are ignored

    def outputs_refusal(self, decision: ApprovalDecision) -> str | None:
        """Why an approval's values are not exactly the ones asked (a name missing, blank or unknown), or None."""
        given = decision.outputs
        found = {
            "missing": [name for name in self.outputs if name not in given],
            "empty": [name for name in self.outputs if name in given and not given[name].strip()],
            "unknown": sorted(name for name in given if name not in self.outputs),
        }
        problems = [f"{label} {', '.join(names)}" for label, names in found.items() if names]
        if not problems:
            return None
        asked = ", ".join(self.outputs) or "none"
        return f"approving step {self.step_id!r} takes exactly the values it asks for ({asked}): {'; '.join(problems)}"


class ApprovalReceipt(BaseModel):
    """What the `approve` Update returns: the vote counted, and where the approval stands."""

    step_id: str
    iteration: int | None = None
    approvals: int
    required: int
    outcome: Literal["pending", "approved", "denied"]
