"""The status of one response step (an incident's built-in step or a playbook step)."""

from __future__ import annotations

from enum import StrEnum


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    # Approval steps that did not get a yes: like `failed` for what follows (on_failure decides), but they say
    # what happened, so a denied or unanswered approval never reads as a broken step.
    DENIED = "denied"
    TIMED_OUT = "timed_out"


# What counts as the step failing: its on_failure applies, and an unhandled one fails the run.
FAILURES = frozenset({StepStatus.FAILED, StepStatus.DENIED, StepStatus.TIMED_OUT})
