"""A playbook run as data: what starts one, what it reports, and the approvals people send it.

Pure models (no I/O): the PlaybookWorkflow's input, result and query state, and the approval check its
Update validator runs — unit-testable without Temporal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from xorb_orchestrator.models.incident import IncidentView, StepStatus
from xorb_orchestrator.models.playbook import Playbook, PlaybookStep, RetryPolicy, StepState, resolve_inputs
from xorb_orchestrator.models.playbook.durations import Duration

# Events in one run's history before it continues as new (at a boundary between top-level steps).
DEFAULT_HISTORY_LIMIT = 10_000


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"  # a step aborted: the compensations of completed steps ran
    CANCELLED = "cancelled"


class StepRecord(BaseModel):
    """One step as it ran (or is running): the run's ordered record, and what the `state` query shows."""

    id: str
    kind: str
    iteration: int | None = Field(None, description="The for_each item index (innermost loop), if in a loop.")
    action: str | None = None
    status: StepStatus = StepStatus.RUNNING
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    args: Any = Field(None, description="Resolved arguments (actions), inputs (playbook steps), message (approvals).")
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    decision: str | None = Field(None, description="if: then/else; switch: the case; parallel any: the winner ...")
    simulated: bool = Field(False, description="Dry run: not executed (mutating action, approval or wait).")
    votes: list[ApprovalVote] = Field(default_factory=list)


class UndoRecord(BaseModel):
    """The compensation of one completed step, its arguments rendered when the step completed."""

    step_id: str
    iteration: int | None = None
    key: str = Field(description="The compensated step's instance key (workflow id / step id / iteration).")
    action: str
    args: dict[str, Any] = Field(default_factory=dict)
    timeout: Duration | None = None
    retry: RetryPolicy | None = None
    status: Literal["pending", "completed", "failed", "simulated"] = "pending"
    attempts: int = 0
    error: str | None = None


class RunCarry(BaseModel):
    """What a run carries into its continue-as-new successor (taken between two top-level steps)."""

    next_index: int
    states: dict[str, StepState]
    records: list[StepRecord]
    undo: list[UndoRecord]


class PlaybookRunInput(BaseModel):
    """Start a PlaybookWorkflow (id `playbook-<incident id>-<n>`) with this. Build it with `pin(...)`."""

    playbook: Playbook
    playbook_sha256: str = Field(description="Playbook.content_sha256(): the run refuses a playbook that differs.")
    library: dict[str, Playbook] = Field(
        default_factory=dict, description="The playbooks its `playbook` steps run (transitively), pinned with it."
    )
    inputs: dict[str, Any] = Field(default_factory=dict, description="Resolved inputs (resolve_inputs).")
    incident: IncidentView
    dry_run: bool = False
    mutating_actions: list[str] = Field(
        default_factory=list, description="Actions a dry run simulates instead of calling (the registry's flags)."
    )
    history_limit: int = Field(DEFAULT_HISTORY_LIMIT, ge=50)
    carried: RunCarry | None = None

    @classmethod
    def pin(
        cls,
        playbook: Playbook,
        *,
        incident: IncidentView,
        inputs: Mapping[str, Any] | None = None,
        catalog: Mapping[str, Playbook] | None = None,
        dry_run: bool = False,
        mutating_actions: Iterable[str] = (),
    ) -> PlaybookRunInput:
        """The input of a run of a validated playbook: inputs resolved (InputError when they do not fit),
        content hash pinned, and every playbook it runs (from `catalog`) carried along."""
        catalog = catalog or {}
        library: dict[str, Playbook] = {}
        pending = [playbook]
        while pending:
            for placement in pending.pop().walk():
                step = placement.step
                if isinstance(step, PlaybookStep) and step.playbook not in library and step.playbook in catalog:
                    library[step.playbook] = catalog[step.playbook]
                    pending.append(catalog[step.playbook])
        return cls(
            playbook=playbook,
            playbook_sha256=playbook.content_sha256(),
            library=library,
            inputs=resolve_inputs(playbook.inputs, dict(inputs or {})),
            incident=incident,
            dry_run=dry_run,
            mutating_actions=sorted(set(mutating_actions)),
        )


class PlaybookRunResult(BaseModel):
    """How a run ended: its steps in the order they started, and the compensations run (newest first)."""

    playbook_id: str
    playbook_sha256: str
    status: RunStatus
    dry_run: bool = False
    error: str | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    compensations: list[UndoRecord] = Field(default_factory=list)
    pending_undo: list[UndoRecord] = Field(
        default_factory=list, description="Compensations not run (the run succeeded); a parent run adopts them."
    )
    states: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Top-level step states ({status, result, error}): a playbook step's result."
    )

    def decisions(self) -> list[tuple[str, str]]:
        """(step id, decision) of every branch taken, in order."""
        return [(record.id, record.decision) for record in self.steps if record.decision is not None]


# --- approvals ------------------------------------------------------------------------------------


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


class PlaybookRunState(BaseModel):
    """The `state` query: progress of every step reached so far and the approvals waiting for people."""

    playbook_id: str
    status: RunStatus
    dry_run: bool = False
    steps: list[StepRecord]
    pending_approvals: list[ApprovalRequest]
    compensations: list[UndoRecord]
    error: str | None = None
    refused_signals: list[str] = Field(default_factory=list, description="Approval signals that could not count.")


StepRecord.model_rebuild()
