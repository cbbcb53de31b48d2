"""The incident's response by playbook: the pinned playbook runs as a child PlaybookWorkflow.

Child id `playbook-<incident id>-1`, refused if it was ever used (a reset incident must not repeat a disruptive
response). If the incident is cancelled (or closed), the child is asked to cancel and the incident waits for it:
the child's compensations finish before the incident ends, so an undo never races the action it undoes.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ChildWorkflowError, FailureError, WorkflowAlreadyStartedError
from temporalio.workflow import ChildWorkflowCancellationType, ParentClosePolicy

from xorb_orchestrator.workflows.playbook.workflow import PlaybookWorkflow

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.models.ids import playbook_run_id
    from xorb_orchestrator.models.incident import IncidentView
    from xorb_orchestrator.models.plan import PinnedPlaybook
    from xorb_orchestrator.models.playbook_run import PlaybookRunInput, PlaybookRunState, RunStatus, UndoRecord


def planned_run(view: IncidentView, pinned: PinnedPlaybook) -> PlaybookRunState:
    """What the incident view shows of a playbook run before it starts."""
    return PlaybookRunState(
        playbook_id=pinned.playbook.id,
        workflow_id=playbook_run_id(view.incident_id),
        playbook_sha256=pinned.playbook_sha256,
        status=RunStatus.PENDING,
        steps=[],
        pending_approvals=[],
        compensations=[],
    )


async def run_playbook(view: IncidentView, pinned: PinnedPlaybook) -> tuple[bool, list[UndoRecord]]:
    """Run the pinned playbook for this incident and record how it went in `view.playbook_run`.
    Returns whether the response failed (the run failed, was cancelled, or could not start), and the undo of
    what a completed run put in place (for a timed containment)."""
    progress = view.playbook_run or planned_run(view, pinned)
    progress.status = RunStatus.RUNNING
    view.playbook_run = progress
    # The child sees the incident as it is now; samples are for analysts, not for expressions.
    incident = view.model_copy(update={"playbook_run": None, "samples": []})
    try:
        result = await workflow.execute_child_workflow(
            PlaybookWorkflow.run,
            PlaybookRunInput.from_pinned(pinned, incident=incident, measure_first_action=True),
            id=progress.workflow_id or playbook_run_id(view.incident_id),
            task_queue=workflow.info().task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            cancellation_type=ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
    except WorkflowAlreadyStartedError:
        # The incident was reset to before its run started: the run it started then keeps its effects; starting
        # it again could repeat a disruptive action.
        reason = f"run {progress.workflow_id} was started before (the incident was reset?); not started again"
        progress.status, progress.error = RunStatus.FAILED, reason
        view.error = f"playbook {pinned.playbook.id} not run: {reason}"
        return True, []
    except ChildWorkflowError as err:
        cause = err.cause
        reason = (cause.message if isinstance(cause, FailureError) else err.message) or type(cause).__name__
        progress.status, progress.error = RunStatus.FAILED, reason
        view.error = f"playbook {pinned.playbook.id} did not finish: {reason}"
        return True, []
    view.playbook_run = result.as_state(progress.workflow_id)
    if result.status is not RunStatus.COMPLETED:
        view.error = f"playbook {result.playbook_id} {result.status.value}: {result.error}"
        return True, []
    return False, list(result.pending_undo)
