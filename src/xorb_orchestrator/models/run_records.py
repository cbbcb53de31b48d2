"""A playbook run's record: each step as it ran, the undo owed for it, and the run's state as people see it
(the `state` query, and the `playbook_run` of an incident's view)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from xorb_orchestrator.models.approvals import ApprovalRequest, ApprovalVote, GatedRequest
from xorb_orchestrator.playbook.durations import Duration
from xorb_orchestrator.playbook.policies import RetryPolicy
from xorb_orchestrator.playbook.step_status import StepStatus


class RunStatus(StrEnum):
    PENDING = "pending"  # chosen by the incident's plan, not started yet (waiting for a response slot)
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
    requests: list[GatedRequest] = Field(
        default_factory=list, description="Approvals: the requests the approval decided, as they were shown."
    )


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


class PlaybookRunState(BaseModel):
    """The `state` query: progress of every step reached so far and the approvals waiting for people."""

    playbook_id: str
    workflow_id: str | None = Field(None, description="The run's workflow id (playbook-<incident>-<n>).")
    playbook_sha256: str | None = Field(None, description="The content hash the run pinned.")
    status: RunStatus
    dry_run: bool = False
    steps: list[StepRecord]
    pending_approvals: list[ApprovalRequest]
    compensations: list[UndoRecord]
    error: str | None = None
    refused_signals: list[str] = Field(default_factory=list, description="Approval signals that could not count.")
