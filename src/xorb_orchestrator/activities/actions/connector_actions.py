"""Connector actions as activities: each ConnectorAction's call, wrapped with what every action shares — its
arguments checked, dry runs, heartbeats and metrics, and its failures as errors Temporal classifies (a refusal is
not retried, an unreachable tool is). The receipt goes into the result, where the incident shows it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import activity

from xorb_orchestrator.activities.actions.support import (
    ActionActivity,
    ActionDeps,
    RunnableAction,
    action_args,
    action_attempt,
    action_error,
    simulated,
)
from xorb_orchestrator.connectors.base import (
    CallContext,
    ConnectorAction,
    ConnectorError,
    ConnectorType,
    connection_for,
)
from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult


def connector_actions(kinds: Sequence[ConnectorType]) -> list[RunnableAction]:
    """Every action of these connector types, ready for the worker."""
    return [RunnableAction(action.spec, _builder(kind, action)) for kind in kinds for action in kind.actions]


def _builder(kind: ConnectorType, action: ConnectorAction[Any]) -> Any:
    spec = action.spec

    def build(deps: ActionDeps) -> ActionActivity:
        @activity.defn(name=spec.name)
        async def run(request: ActionInput) -> ActionResult:
            args = action_args(spec, request)
            if (stand_in := simulated(spec, args, request)) is not None:
                return stand_in
            info = activity.info()
            context = CallContext(key=f"{request.incident_id}/{request.step.id}", incident_id=request.incident_id,
                                  attempt=info.attempt)  # fmt: skip
            async with action_attempt(spec.name, request):
                try:
                    connection = connection_for(deps.connections, kind.name, args.connection)
                    outcome = await action.call(connection, args, context)
                except ConnectorError as exc:
                    error_type = "ActionUnavailable" if exc.retryable else "ActionRejected"
                    raise action_error(str(exc), error_type=error_type, retryable=exc.retryable) from None
            details = dict(outcome.details)
            if outcome.receipt is not None:
                details["receipt"] = outcome.receipt.model_dump(mode="json")
            return ActionResult(outcome="completed", attempt=info.attempt, details=details)

        return run

    return build
