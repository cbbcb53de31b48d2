"""Pure data: pydantic models with no I/O."""

from xorb_orchestrator.models.alert import Alert, AlertEnvelope
from xorb_orchestrator.models.enrichment import Enrichment, ObservableFacts
from xorb_orchestrator.models.incident import IncidentStatus, IncidentView, StepRun, StepStatus
from xorb_orchestrator.models.observable import Observable, ObservableType
from xorb_orchestrator.models.plan import Plan, PlannedStep
from xorb_orchestrator.models.severity import Severity

__all__ = [
    "Alert",
    "AlertEnvelope",
    "Enrichment",
    "IncidentStatus",
    "IncidentView",
    "Observable",
    "ObservableFacts",
    "ObservableType",
    "Plan",
    "PlannedStep",
    "Severity",
    "StepRun",
    "StepStatus",
]
