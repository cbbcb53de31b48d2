"""What every response action shares: metrics, heartbeats, and errors Temporal can classify."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime

from temporalio import activity
from temporalio.exceptions import ApplicationError

from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.models.workflow_io import ActionInput


def action_error(message: str, *, error_type: str, retryable: bool) -> ApplicationError:
    """An error that carries the attempt number, so the incident shows how many attempts were made."""
    return ApplicationError(message, {"attempt": activity.info().attempt}, type=error_type, non_retryable=not retryable)


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
