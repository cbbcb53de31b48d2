"""What every response action shares: how the worker builds it, metrics, heartbeats, errors Temporal classifies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from xorb_orchestrator.config import Settings
from xorb_orchestrator.connectors.connections import Connections
from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult
from xorb_orchestrator.playbook.actions import ActionArgs, ActionArgsInvalid, ActionSpec

if TYPE_CHECKING:  # guard.py builds on this module's ActionInput handling; a type here only
    from xorb_orchestrator.activities.actions.guard import Guard

ArgsT = TypeVar("ArgsT", bound=ActionArgs)
ActionActivity = Callable[[ActionInput], Awaitable[ActionResult]]


@dataclass(frozen=True)
class ActionDeps:
    """What an action's activity may use; built once per worker."""

    settings: Settings
    http: httpx.AsyncClient
    connections: Connections = field(default_factory=Connections)  # XORB_CONNECTORS_FILE
    # The guardrails every mutating call passes right before it is made (service.py always gives one; None only
    # where a unit test runs an activity alone).
    guard: Guard | None = None


@dataclass(frozen=True)
class RunnableAction:
    """An action the worker can run: its contract (spec) and how to build its activity from the worker's deps."""

    spec: ActionSpec[Any]
    build: Callable[[ActionDeps], ActionActivity]


def action_error(
    message: str, *, error_type: str, retryable: bool, next_retry_delay: timedelta | None = None
) -> ApplicationError:
    """An error that carries the attempt number, so the incident shows how many attempts were made;
    `next_retry_delay` replaces the retry policy's backoff for the next attempt only."""
    return ApplicationError(
        message,
        {"attempt": activity.info().attempt},
        type=error_type,
        non_retryable=not retryable,
        next_retry_delay=next_retry_delay,
    )


def action_args(spec: ActionSpec[ArgsT], request: ActionInput) -> ArgsT:
    """The step's arguments validated against the action's model; InvalidInput (not retried) naming the field."""
    try:
        return spec.parse_args(request.step.args)
    except ActionArgsInvalid as exc:
        raise action_error(str(exc), error_type="InvalidInput", retryable=False) from None


def simulated(spec: ActionSpec[ArgsT], args: ArgsT, request: ActionInput) -> ActionResult | None:
    """In a dry run, the result standing in for a call not to make; None: make the call. Not made: one that would
    change something, and one that reaches outside unless its step vouched for it (`dry_run: call`, within the
    run's cap): a dry run reads nothing its author did not mark as safe to read."""
    if not request.dry_run:
        return None
    if spec.mutates(args):
        return stand_in(args, f"dry run: {spec.name} changes something outside, so it was not called")
    if spec.reaches_out and not request.dry_run_call:
        return stand_in(
            args, f"dry run: {spec.name} was not called (a lookup runs only where its step says dry_run: call)"
        )
    return None


def stand_in(args: ActionArgs, reason: str, warning: str | None = None) -> ActionResult:
    """A dry run's `simulated` result for a call not made: its arguments, why, and what a real run would trip on."""
    details: dict[str, object] = {"args": args.model_dump(mode="json", by_alias=True, exclude_none=True)}
    if warning is not None:
        details["warning"] = warning
    return ActionResult(outcome="simulated", reason=reason, attempt=activity.info().attempt, details=details)


@asynccontextmanager
async def action_attempt(action: str, request: ActionInput) -> AsyncIterator[None]:
    """Measure one attempt, keep heartbeating while it runs (so a dead worker is noticed fast)."""
    info = activity.info()
    if request.first_action and info.attempt == 1:
        waited = datetime.now(UTC) - request.incident.created_at
        metrics.ALERT_TO_FIRST_ACTION.observe(max(0.0, waited.total_seconds()))
    heartbeat = asyncio.create_task(_heartbeat_forever())
    metrics.STEPS_IN_FLIGHT.labels(action).inc()
    started = time.perf_counter()
    outcome = "failed"
    try:
        yield
        outcome = "completed"
    finally:
        heartbeat.cancel()
        with suppress(asyncio.CancelledError):
            await heartbeat
        metrics.STEPS_IN_FLIGHT.labels(action).dec()
        metrics.STEP_DURATION.labels(action, outcome).observe(time.perf_counter() - started)


async def _heartbeat_forever(every: float = 2.0) -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(every)
