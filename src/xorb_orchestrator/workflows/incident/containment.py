"""The incident's timed containment: what its run put in place is handed, with its undo, to a ContainmentWorkflow
that ends it when the policy's duration (capped by the verdicts' validity) is over."""

from __future__ import annotations

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from xorb_orchestrator.workflows.containment import ContainmentWorkflow

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.models.containment import MAX_UNDO, ContainmentSummary
    from xorb_orchestrator.models.ids import containment_id
    from xorb_orchestrator.models.incident import IncidentView
    from xorb_orchestrator.models.response_plan import PolicyDecision
    from xorb_orchestrator.models.run_records import UndoRecord
    from xorb_orchestrator.models.workflow_io import ContainmentInput
    from xorb_orchestrator.playbook import format_duration


async def start_containment(view: IncidentView, decision: PolicyDecision, undo: list[UndoRecord]) -> None:
    """Start the timer that undoes `undo` at the end of the decision's duration; recorded in `view.containment`."""
    assert decision.duration is not None
    until = workflow.now() + decision.duration
    reason = f"for {format_duration(decision.duration)}" + (
        f" ({decision.duration_capped_by})" if decision.duration_capped_by else " (the policy's duration)"
    )
    workflow_id = containment_id(view.incident_id)
    request = ContainmentInput(
        incident=view.model_copy(update={"samples": [], "playbook_run": None, "containment": None}),
        until=until,
        reason=reason[:1000],
        undo=undo[:MAX_UNDO],
        effects=[effect.receipt for effect in view.effects][:MAX_UNDO],
    )
    try:
        # Abandoned when the incident closes: the containment outlives it and still ends on time.
        await workflow.start_child_workflow(
            ContainmentWorkflow.run,
            request,
            id=workflow_id,
            parent_close_policy=ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        workflow.logger.warning("containment %s was started before (the incident was reset?)", workflow_id)
    view.containment = ContainmentSummary(
        workflow_id=workflow_id,
        incident_id=view.incident_id,
        title=view.title,
        until=until,
        reason=request.reason,
        undo=request.undo,
        effects=request.effects,
    )
