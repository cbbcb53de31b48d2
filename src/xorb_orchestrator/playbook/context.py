"""The data expressions see: `inputs`, `incident`, `steps` and (inside for_each) `item`.

Validation checks references against these names; the interpreter builds the context with
`expression_context`, so every reference that validated resolves at run time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from xorb_orchestrator.playbook.step_status import StepStatus

if TYPE_CHECKING:  # the incident's model holds playbook runs: imported for typing only, never at run time
    from xorb_orchestrator.models.incident import IncidentView

CONTEXT_NAMES = ("inputs", "incident", "steps", "item")
INCIDENT_FIELDS = (
    "id",
    "title",
    "severity",
    "severity_id",
    "source",
    "rule",
    "observables",
    "techniques",
    "alert_count",
)
STEP_FIELDS = ("status", "result", "error")
APPROVAL_FIELDS = ("approved", "approvers")


class StepState(BaseModel):
    """What later steps see of one step: `steps.<id>.status`, `.result`, `.error` (+ approval fields)."""

    status: StepStatus = StepStatus.PENDING
    result: dict[str, Any] = Field(default_factory=dict, description="The action's result object.")
    error: str | None = None
    # Approval steps only: the decision and who made it.
    approved: bool | None = None
    approvers: list[str] = Field(default_factory=list)

    def as_context(self, is_approval: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status.value, "result": self.result, "error": self.error}
        if is_approval:
            data["approved"] = bool(self.approved)
            data["approvers"] = list(self.approvers)
        return data


def incident_context(incident: IncidentView | Mapping[str, Any]) -> dict[str, Any]:
    """The `incident` map: id, title, severity, severity_id, source, rule, observables, techniques, alert_count."""
    if not isinstance(incident, Mapping):  # an IncidentView
        return {
            "id": incident.incident_id,
            "title": incident.title,
            "severity": incident.severity,
            "severity_id": incident.severity_id,
            "source": incident.source,
            "rule": incident.rule,
            "observables": [{"type": o.type.value, "value": o.value, "role": o.role} for o in incident.observables],
            "techniques": list(incident.techniques),
            "alert_count": incident.alert_count,
        }
    defaults: dict[str, Any] = {"observables": [], "techniques": [], "alert_count": 0}
    return {name: incident.get(name, defaults.get(name)) for name in INCIDENT_FIELDS}


def expression_context(
    *,
    inputs: Mapping[str, Any],
    incident: IncidentView | Mapping[str, Any],
    steps: Mapping[str, StepState],
    step_ids: Iterable[str] = (),
    approval_ids: Iterable[str] = (),
    item: Any = None,
    in_loop: bool = False,
) -> dict[str, Any]:
    """The context for `evaluate`/`render_template`.

    `step_ids` are every step id of the playbook (`Playbook.step_ids()`): those without a state yet show as
    pending, so `steps.x.status` always resolves. `approval_ids` get `approved`/`approvers`. `item` is bound
    only when `in_loop` is true.
    """
    approvals = set(approval_ids)
    states = {step_id: StepState() for step_id in step_ids}
    states.update(steps)
    context: dict[str, Any] = {
        "inputs": dict(inputs),
        "incident": incident_context(incident),
        "steps": {step_id: state.as_context(step_id in approvals) for step_id, state in states.items()},
    }
    if in_loop:
        context["item"] = item
    return context
