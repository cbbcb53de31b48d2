"""An incident's status as the truth has it: the workflow's own view, corrected by Temporal's state of it.

The view is what the workflow last said (from the cache or its query). Temporal knows what the workflow cannot
say about itself: that it failed, was terminated or timed out, that it has ended, or that its task keeps failing
(a stalled workflow). `reconcile` is a plain function of the two, so every read path agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio.client import WorkflowExecutionStatus

from xorb_orchestrator.models.incident import IncidentStatus, IncidentView

# A workflow task that failed this many times in a row will not recover by itself: the incident is stalled.
STALLED_AFTER_ATTEMPTS = 3
_ENDED_BADLY = {
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TERMINATED: "was terminated",
    WorkflowExecutionStatus.TIMED_OUT: "timed out",
    WorkflowExecutionStatus.CANCELED: "was cancelled",
}


@dataclass(frozen=True)
class ExecutionState:
    """What Temporal says of an incident's workflow (its latest run)."""

    status: WorkflowExecutionStatus
    close_time: datetime | None = None
    reason: str | None = None  # the failure message or the termination reason, when known
    task_attempts: int = 0  # attempts of the pending workflow task (1 when it is just being worked on)


def reconcile(view: IncidentView, state: ExecutionState) -> IncidentView:
    """`view` with the status, error and closing time Temporal's state implies (a copy when anything changes)."""
    if state.status == WorkflowExecutionStatus.RUNNING:
        if state.task_attempts < STALLED_AFTER_ATTEMPTS:
            return view
        error = (
            f"the incident's workflow is stalled: its task failed {state.task_attempts} times in a row "
            f"({state.reason or 'see the worker log'}); it resumes once the cause is fixed"
        )
        return view.model_copy(update={"status": IncidentStatus.FAILED, "error": error})
    closed_at = view.closed_at or state.close_time
    if state.status == WorkflowExecutionStatus.COMPLETED:
        status = IncidentStatus.FAILED if view.status is IncidentStatus.FAILED else IncidentStatus.CLOSED
        return view.model_copy(update={"status": status, "closed_at": closed_at})
    what = _ENDED_BADLY.get(state.status)
    if what is None:  # continued as new: the latest run is the one to ask, and it answered for itself
        return view
    error = f"the incident's workflow {what}" + (f": {state.reason}" if state.reason else "")
    return view.model_copy(
        update={"status": IncidentStatus.FAILED, "error": error, "closed_at": closed_at, "accepts_alerts_until": None}
    )


def awaiting_approval(view: IncidentView) -> IncidentView:
    """A running incident whose playbook run waits for people reads `awaiting_approval`."""
    run = view.playbook_run
    if view.status is IncidentStatus.RUNNING and run is not None and run.pending_approvals:
        return view.model_copy(update={"status": IncidentStatus.AWAITING_APPROVAL})
    return view
