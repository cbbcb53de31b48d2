"""Compensation: undo the completed steps of a failed or cancelled run, newest first, each exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.models.incident import IncidentView
    from xorb_orchestrator.models.playbook_run import UndoRecord
    from xorb_orchestrator.workflows.playbook.actions import (
        UNDO_ATTEMPTS,
        call_action,
        describe_failure,
        failed_attempts,
        temporal_retry,
    )


class UndoLedger:
    """The compensations of completed steps, in completion order; `run` empties it newest first."""

    def __init__(self, pending: list[UndoRecord] | None = None) -> None:
        self.pending: list[UndoRecord] = list(pending or [])
        self.done: list[UndoRecord] = []

    def push(self, record: UndoRecord) -> None:
        self.pending.append(record)

    async def run(self, incident: IncidentView, dry_run: bool, mutating: frozenset[str]) -> None:
        """Run every pending compensation, newest first. A failed undo is recorded and the others still run."""
        while self.pending:
            # Popped before it runs: whatever happens, it is never run a second time.
            undo = self.pending.pop()
            self.done.append(undo)
            if dry_run and undo.action in mutating:
                undo.status = "simulated"
                continue
            retry = temporal_retry(undo.retry, default_attempts=UNDO_ATTEMPTS)
            try:
                result = await call_action(
                    undo.action,
                    key=undo.key + "/undo",
                    args=undo.args,
                    incident=incident,
                    timeout=undo.timeout,
                    retry=retry,
                    dry_run=dry_run,
                    undo=True,
                )
            except ActivityError as err:
                undo.status, undo.error = "failed", describe_failure(err)
                undo.attempts = failed_attempts(err, retry)
                workflow.logger.warning("compensation of %s failed: %s", undo.key, undo.error)
                continue
            undo.status = "simulated" if result.outcome == "simulated" else "completed"
            undo.attempts = result.attempt


async def shielded(work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` to its end even if this workflow is cancelled (again) meanwhile: an undo must not be cut short."""
    task = asyncio.ensure_future(work())
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
            workflow.logger.warning("cancellation requested while compensating; finishing the compensations first")
    task.result()
