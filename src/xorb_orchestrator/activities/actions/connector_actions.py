"""Connector actions as activities: each ConnectorAction's call, wrapped with what every action shares — its
arguments checked, dry runs, heartbeats and metrics, and its failures as errors Temporal classifies (a refusal is
not retried, an unreachable tool is, after the wait the tool asked for when it said one). The receipt goes into
the result, where the incident shows it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from xorb_orchestrator.activities.actions.guard import held
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
from xorb_orchestrator.models.receipt import Receipt
from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult

# A tool's "come back in N s" bounds: a bogus header can neither hammer the tool nor stall a step for hours.
MIN_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0


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
            if (hold := await held(deps.guard, spec, args, request)) is not None:
                return hold
            info = activity.info()
            context = CallContext(key=f"{request.incident_id}/{request.step.id}", incident_id=request.incident_id,
                                  attempt=info.attempt)  # fmt: skip
            async with action_attempt(spec.name, request):
                try:
                    connection = connection_for(deps.connections, kind.name, args.connection)
                    outcome = await action.call(connection, args, context)
                except ConnectorError as exc:
                    raise _error(exc) from None
            details = dict(outcome.details)
            if outcome.receipt is not None:
                details["receipt"] = _owned(outcome.receipt, info.attempt).model_dump(mode="json")
                if deps.guard is not None:
                    await deps.guard.record_effect(spec, details["receipt"], request)
            return ActionResult(outcome="completed", attempt=info.attempt, details=details)

        return run

    return build


def _error(exc: ConnectorError) -> ApplicationError:
    """The connector's failure as Temporal's; a retryable one with the tool's wait has it as the next delay."""
    if not exc.retryable:
        return action_error(str(exc), error_type="ActionRejected", retryable=False)
    if exc.retry_after is None:
        return action_error(str(exc), error_type="ActionUnavailable", retryable=True)
    # Clamped as a float first: timedelta() overflows on a huge one (and the bounds turn a NaN into the minimum).
    seconds = min(MAX_RETRY_SECONDS, max(MIN_RETRY_SECONDS, exc.retry_after))
    message = str(exc)
    if not re.search(rf"\b{seconds:.0f}s\b", message):  # the connector said another wait, or none
        message += f" (next attempt in {seconds:.0f}s)"
    return action_error(
        message, error_type="ActionUnavailable", retryable=True, next_retry_delay=timedelta(seconds=seconds)
    )


def _owned(receipt: Receipt, attempt: int) -> Receipt:
    """A reversible effect found in place on the first attempt was there before this step (no earlier attempt of
    ours can have made it): it is not ours to undo. On a later attempt it may be our own earlier call's, so the undo
    stays (the cautious side would leave a block in place; this side could lift another's, only on a retry)."""
    if receipt.repeated and attempt == 1 and receipt.undo is not None:
        return receipt.model_copy(update={"preexisting": True, "undo": None})
    return receipt
