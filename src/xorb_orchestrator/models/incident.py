"""Incident state as the workflow keeps it and as the API shows it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, ValidationError, computed_field

from xorb_orchestrator.models.containment import ContainmentSummary
from xorb_orchestrator.models.enrichment import Enrichment
from xorb_orchestrator.models.observable import Observable
from xorb_orchestrator.models.plan import Plan
from xorb_orchestrator.models.receipt import Receipt
from xorb_orchestrator.models.run_records import PlaybookRunState, StepRecord, UndoRecord
from xorb_orchestrator.playbook.step_status import StepStatus


class IncidentStatus(StrEnum):
    """Where an incident is (docs/incidents.md). The workflow sets open → waiting → running → completed | failed,
    then closed when it stops accepting alerts; reads set awaiting_approval (a pending approval of its running
    playbook) and failed (its workflow failed, was terminated or timed out) from Temporal's own state."""

    OPEN = "open"  # alert recorded; enriching and planning
    WAITING = "waiting"  # plan ready, waiting for a response slot (MAX_PARALLEL_WORKFLOWS)
    RUNNING = "running"  # response steps executing
    AWAITING_APPROVAL = "awaiting_approval"  # running, and its playbook waits for people
    COMPLETED = "completed"  # response done; still collecting related alerts until accepts_alerts_until
    FAILED = "failed"  # the response failed, or the incident's workflow did (see `error`)
    CLOSED = "closed"  # response done and no longer accepting alerts: the next alert opens a new incident

    @property
    def finished(self) -> bool:
        """The response is over (whether or not alerts are still accepted)."""
        return self in (IncidentStatus.COMPLETED, IncidentStatus.FAILED, IncidentStatus.CLOSED)


class StepRun(BaseModel):
    id: str
    action: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    result: dict[str, Any] = Field(default_factory=dict)


class Effect(BaseModel):
    """One effect the response had on a tool: the step that made it, its receipt, and whether it was undone."""

    step_id: str
    iteration: int | None = None
    receipt: Receipt
    undo_status: str | None = Field(
        None, description="pending / completed / failed when an undo was scheduled (a failure, the containment)."
    )


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
    reused_id_count: int = Field(
        0,
        description="Alerts whose sender's event id was seen before on an alert with other content: not re-deliveries, "
        "so each is kept and counted in alert_count; a sender that reuses ids (a sample generator) shows here.",
    )
    redelivery_of: list[str] = Field(
        default_factory=list,
        description="Earlier incidents whose alerts were delivered here again (counted as duplicates, not answered).",
    )
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
    containment: ContainmentSummary | None = Field(
        None, description="What the response put in place for a limited time, when it ends, and its undo."
    )
    accepts_alerts_until: datetime | None = Field(
        None, description="Related alerts join this incident until then (the correlation window after the last)."
    )
    closed_at: datetime | None = Field(None, description="When the incident stopped accepting alerts.")
    revision: int = 0

    @computed_field(description="Every effect on a tool, with its receipt (the tool's handle, expiry, check, undo).")  # type: ignore[prop-decorator]
    @property
    def effects(self) -> list[Effect]:
        if self.playbook_run is None:
            return []
        undone = {(u.step_id, u.iteration): u for u in self.playbook_run.compensations}
        if self.containment is not None:  # a containment's undo supersedes none-yet from the run
            undone.update({(u.step_id, u.iteration): u for u in self.containment.undo})
        return [effect for step in self.playbook_run.steps if (effect := _effect(step, undone))]


def _effect(step: StepRecord, undone: dict[tuple[str, int | None], UndoRecord]) -> Effect | None:
    raw = step.result.get("receipt") if step.result else None
    if not isinstance(raw, dict):
        return None
    try:
        receipt = Receipt.model_validate(raw)
    except ValidationError:  # a receipt from an older release: shown in the step's result, not here
        return None
    undo = undone.get((step.id, step.iteration))
    return Effect(step_id=step.id, iteration=step.iteration, receipt=receipt, undo_status=undo.status if undo else None)
