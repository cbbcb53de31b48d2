"""Incident state as the workflow keeps it and as the API shows it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from xorb_orchestrator.models.enrichment import Enrichment
from xorb_orchestrator.models.observable import Observable
from xorb_orchestrator.models.plan import Plan
from xorb_orchestrator.models.run_records import PlaybookRunState
from xorb_orchestrator.playbook.step_status import StepStatus


class IncidentStatus(StrEnum):
    OPEN = "open"  # alert recorded; enriching and planning
    WAITING = "waiting"  # plan ready, waiting for a response slot (MAX_PARALLEL_WORKFLOWS)
    RUNNING = "running"  # response steps executing
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (IncidentStatus.COMPLETED, IncidentStatus.FAILED)


class StepRun(BaseModel):
    id: str
    action: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    result: dict[str, Any] = Field(default_factory=dict)


class IncidentView(BaseModel):
    """Everything the API shows about one incident. Also the cached form in Redis."""

    incident_id: str
    correlation_key: str
    status: IncidentStatus
    severity: str
    severity_id: int
    title: str
    source: str
    rule: str | None = None
    alert_count: int = 0
    duplicate_count: int = 0
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    observables: list[Observable] = Field(default_factory=list)
    techniques: list[str] = Field(default_factory=list)
    enrichment: Enrichment | None = None
    plan: Plan | None = None
    steps: list[StepRun] = Field(default_factory=list, description="The built-in plan's steps (no playbook).")
    playbook_run: PlaybookRunState | None = Field(
        None, description="The playbook run responding to this incident: each of its steps, approvals, undo."
    )
    # The first few alerts as the detector sent them, for the analyst; bounded so storms stay small.
    samples: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None
    revision: int = 0
