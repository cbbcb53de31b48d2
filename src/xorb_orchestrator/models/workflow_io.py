"""One input and one output model per workflow and activity, so fields can be added safely."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from xorb_orchestrator.models.alert import AlertEnvelope
from xorb_orchestrator.models.containment import MAX_UNDO
from xorb_orchestrator.models.enrichment import Enrichment
from xorb_orchestrator.models.incident import IncidentView
from xorb_orchestrator.models.observable import Observable
from xorb_orchestrator.models.plan import Plan, PlannedStep
from xorb_orchestrator.models.receipt import Receipt
from xorb_orchestrator.models.run_records import UndoRecord


class IncidentInput(BaseModel):
    incident_id: str
    correlation_key: str
    # The correlation window: after its response the incident stays open until no alert came for
    # this long, and not before `close_not_before` (the end of the window its id was made for).
    linger_seconds: float = 600.0
    close_not_before: datetime | None = None
    # Set when the workflow continues as new: the state it carries over.
    carried: IncidentView | None = None
    seen_fingerprints: list[str] = Field(default_factory=list)
    pending_alerts: list[AlertEnvelope] = Field(default_factory=list)


class RecallInput(BaseModel):
    """A new incident's first alerts: were any delivered to an earlier incident of the same key?"""

    incident_id: str
    run_id: str
    correlation_key: str
    fingerprints: list[str]


class Recalled(BaseModel):
    """Fingerprints already delivered, each with the incident that took it."""

    delivered: dict[str, str] = Field(default_factory=dict)


class EnrichInput(BaseModel):
    incident_id: str
    observables: list[Observable]


class PlanInput(BaseModel):
    incident_id: str
    title: str
    severity_id: int
    observables: list[Observable]
    techniques: list[str]
    enrichment: Enrichment


class AssessInput(BaseModel):
    """An incident to enrich and plan in one activity (`incident.assess`): one round trip fewer than two."""

    incident_id: str
    title: str
    severity_id: int
    observables: list[Observable]
    techniques: list[str]


class Assessment(BaseModel):
    enrichment: Enrichment
    plan: Plan


class ActionInput(BaseModel):
    """What every response action activity receives."""

    incident_id: str
    # `step.args` are the action's arguments, already rendered (a playbook resolves its templates first).
    step: PlannedStep
    incident: IncidentView
    first_action: bool = False
    # Dry run: a call that would change something (ActionSpec.mutates) is validated, not made: "simulated".
    dry_run: bool = False
    # Dry run: the step is marked `dry_run: call` (a read-only lookup safe to make) and within the run's cap.
    # Without it, an action that reaches outside simulates itself: a dry run reads nothing it was not allowed to.
    dry_run_call: bool = False
    # The people who approved this very call (its gate's approvers, or those who decided a guardrail's hold):
    # a one-way action, a paused deployment and a spent budget let the call through only with a person's approval.
    approved_by: list[str] = Field(default_factory=list, max_length=20)
    # An undo (a compensation, a containment ending): it restores, so the kill switch and budgets never hold it.
    undo: bool = False


class ActionResult(BaseModel):
    # held: a guardrail stopped the call before it was made; `details.guardrail` is the verdict (a person decides)
    outcome: Literal["completed", "skipped", "simulated", "held"]
    reason: str | None = None
    attempt: int = 1
    details: dict[str, Any] = Field(default_factory=dict)


class PublishInput(BaseModel):
    incident: IncidentView
    # The transition that prompted this publication, counted once in the metrics.
    transition: Literal["started", "completed", "failed"] | None = None


class SlotRequest(BaseModel):
    incident_id: str
    severity_id: int
    requested_at: datetime
    # The requester's MAX_PARALLEL_WORKFLOWS; the coordinator follows the latest one it hears.
    limit: int = 10


class SlotCoordinatorInput(BaseModel):
    limit: int
    holders: list[str] = Field(default_factory=list)
    queue: list[SlotRequest] = Field(default_factory=list)


class SlotCoordinatorView(BaseModel):
    limit: int
    holders: list[str]
    waiting: list[SlotRequest]


class ContainmentInput(BaseModel):
    """Start a ContainmentWorkflow: the incident as it was when contained (no samples: the undo's context)."""

    incident: IncidentView
    until: datetime
    reason: str = Field(max_length=1000, description="why it ends then: the duration and what capped it")
    undo: list[UndoRecord] = Field(max_length=MAX_UNDO)
    effects: list[Receipt] = Field(
        default_factory=list, max_length=MAX_UNDO, description="the receipts of what it holds"
    )
