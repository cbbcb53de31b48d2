"""The kill switch and the budgets' state, for the API and the CLI: pause and resume autonomy deployment-wide
(GuardrailsWorkflow, started if it is not running). A pause's rollback is containments.release_all."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError

from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.models.guardrails import AutonomyState, BudgetUse, GuardrailsInput, GuardrailsState, PauseRequest
from xorb_orchestrator.models.ids import guardrails_id
from xorb_orchestrator.policy.budgets import budgets_of
from xorb_orchestrator.workflows.guardrails import GuardrailsWorkflow


def _start(settings: Settings) -> WithStartWorkflowOperation[Any, Any]:
    return WithStartWorkflowOperation(
        GuardrailsWorkflow.run,
        GuardrailsInput(),
        id=guardrails_id(settings.temporal_task_queue),
        task_queue=settings.temporal_task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def state(client: Client, settings: Settings) -> GuardrailsState:
    """The kill switch and each budget's use; a deployment that never claimed an effect is running and unspent."""
    configured = [BudgetUse(budget=budget, used=0) for budget in budgets_of(settings.budget_specs)]
    try:
        handle = client.get_workflow_handle(guardrails_id(settings.temporal_task_queue))
        state: GuardrailsState = await handle.query(GuardrailsWorkflow.state)
    except RPCError as exc:
        if "not found" in exc.message.lower():
            return GuardrailsState(autonomy=AutonomyState(), budgets=configured)
        raise TemporalUnavailable(f"Temporal is unavailable: {exc.message}") from None
    # Before the first claim the workflow knows no budgets yet: show the configured ones, unspent.
    return state if state.budgets else state.model_copy(update={"budgets": configured})


async def pause(client: Client, settings: Settings, request: PauseRequest) -> AutonomyState:
    """Stop every new autonomous effect: the next claim anywhere is held for a person."""
    return await _update(client, settings, GuardrailsWorkflow.pause, request)


async def resume(client: Client, settings: Settings, request: PauseRequest) -> AutonomyState:
    return await _update(client, settings, GuardrailsWorkflow.resume, request)


async def _update(client: Client, settings: Settings, update: Any, request: PauseRequest) -> AutonomyState:
    try:
        result: AutonomyState = await client.execute_update_with_start_workflow(
            update, request, start_workflow_operation=_start(settings)
        )
    except RPCError as exc:
        raise TemporalUnavailable(f"Temporal is unavailable: {exc.message}") from None
    return result
