"""Calling a registered action from a playbook: one activity by name, with the step's bounded retry and timeout."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy as TemporalRetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, FailureError, RetryState

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.models.incident import IncidentView
    from xorb_orchestrator.models.plan import PlannedStep
    from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult
    from xorb_orchestrator.playbook import DEFAULT_STEP_TIMEOUT, RetryPolicy
    from xorb_orchestrator.workflows import policies

# A compensation must not give up easily: it is what undoes a disruptive step.
UNDO_ATTEMPTS = 5


def temporal_retry(retry: RetryPolicy | None, default_attempts: int = 3) -> TemporalRetryPolicy:
    """The playbook's retry policy as Temporal's, always bounded, never retrying validation or 4xx failures."""
    retry = retry or RetryPolicy(max_attempts=default_attempts)
    return TemporalRetryPolicy(
        initial_interval=retry.initial_interval,
        backoff_coefficient=retry.backoff,
        maximum_interval=retry.max_interval,
        maximum_attempts=retry.max_attempts,
        non_retryable_error_types=policies.NON_RETRYABLE,
    )


async def call_action(
    action: str,
    *,
    key: str,
    args: dict[str, Any],
    incident: IncidentView,
    timeout: timedelta | None,
    retry: TemporalRetryPolicy,
    dry_run: bool,
    dry_run_call: bool = False,
    first_action: bool = False,
    approved_by: list[str] | None = None,
    undo: bool = False,
) -> ActionResult:
    """Run a registered action by name (the registry is the worker's), as IncidentWorkflow does.

    The heartbeat timeout notices a dead worker within seconds; WAIT_CANCELLATION_COMPLETED makes a
    cancelled step wait until the action has really stopped, so its undo never races it.
    """
    return await workflow.execute_activity(
        action,
        ActionInput(
            incident_id=incident.incident_id,
            step=PlannedStep(id=key, action=action, args=args),
            incident=incident,
            dry_run=dry_run,
            dry_run_call=dry_run_call,
            first_action=first_action,
            approved_by=list(approved_by or ()),
            undo=undo,
        ),
        result_type=ActionResult,
        start_to_close_timeout=timeout or DEFAULT_STEP_TIMEOUT,
        heartbeat_timeout=policies.ACTION_HEARTBEAT,
        retry_policy=retry,
        cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    )


def describe_failure(err: BaseException) -> str:
    """One line for the run's record: the root cause's message."""
    if isinstance(err, ActivityError | ChildWorkflowError):
        cause = err.cause
        while isinstance(cause, ActivityError | ChildWorkflowError) and cause.cause is not None:
            cause = cause.cause
        message = cause.message if isinstance(cause, FailureError) else err.message
        return str(message) or type(cause).__name__
    if isinstance(err, TimeoutError):
        return "did not finish in time"
    return str(err) or type(err).__name__


def failed_attempts(err: ActivityError, retry: TemporalRetryPolicy) -> int:
    """How many attempts a failed action made (the action reports its attempt in the error's details)."""
    cause = err.cause
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[0]
        if isinstance(detail, dict) and isinstance(detail.get("attempt"), int):
            return int(detail["attempt"])
    if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED:
        return retry.maximum_attempts
    return 1
