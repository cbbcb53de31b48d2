"""Running several step lists at once inside a workflow: parallel branches (join all / any) and for_each items
with a concurrency limit.

Workflow cancellation only reaches the task running `run`: tasks started here must be cancelled by hand,
and awaited, so that a cancelled action has really stopped before any compensation starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.playbook import Step
    from xorb_orchestrator.workflows.playbook.scheduler import Done, ListEnd, StepFailure

T = TypeVar("T")
Branch = Callable[[int, list[Step]], Coroutine[Any, Any, ListEnd]]


async def settle(tasks: Sequence[asyncio.Task[T]]) -> list[T | BaseException]:
    """Wait for every task. Cancelled meanwhile: gather cancels them all and still waits for them to end."""
    return await asyncio.gather(*tasks, return_exceptions=True)


async def join_all(branches: list[list[Step]], run: Branch) -> None:
    """Run every branch to its end (a branch stopped halfway would leave effects without their undo);
    StepFailure naming the first failed branch."""
    tasks: list[asyncio.Task[ListEnd]] = [asyncio.create_task(run(i, branch)) for i, branch in enumerate(branches)]
    ends = await settle(tasks)
    for index, end in enumerate(ends):
        if isinstance(end, BaseException):
            raise end
        if not isinstance(end, Done):
            raise StepFailure(f"branch {index}: {_describe(end)}")


async def join_any(branches: list[list[Step]], run: Branch) -> int:
    """The first branch to complete wins: the others are cancelled and awaited. StepFailure when all fail."""
    tasks: list[asyncio.Task[ListEnd]] = [asyncio.create_task(run(i, branch)) for i, branch in enumerate(branches)]
    failures: dict[int, str] = {}
    try:
        pending = set(tasks)
        while pending:
            # workflow.wait, not asyncio.wait: its result order is deterministic, as replay needs.
            _done, still = await workflow.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending = set(still)
            for index, task in enumerate(tasks):
                if not task.done() or index in failures:
                    continue
                end = task.result()
                if isinstance(end, Done):
                    for other in tasks:
                        other.cancel()
                    await settle(tasks)
                    return index
                failures[index] = _describe(end)
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await settle(tasks)
        raise
    raise StepFailure("every branch failed: " + "; ".join(f"branch {i}: {m}" for i, m in sorted(failures.items())))


class _Slots:
    """A semaphore for items, in workflow state: `used` of `limit` running, `stop` after a failure."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used, self.stop = limit, 0, False

    def may_start(self) -> bool:
        return self.used < self.limit or self.stop


async def for_each(
    items: list[Any], limit: int, run: Callable[[int, Any], Coroutine[Any, Any, ListEnd]]
) -> list[ListEnd | None]:
    """Run the items, at most `limit` at a time, in order. After a failed item no new item starts (the running
    ones finish); the list holds each item's end, None for items not started."""
    ends: list[ListEnd | None] = [None] * len(items)
    slots = _Slots(limit)

    async def one(index: int, item: Any) -> None:
        try:
            ends[index] = end = await run(index, item)
            slots.stop = slots.stop or not isinstance(end, Done)
        finally:
            slots.used -= 1

    tasks: list[asyncio.Task[None]] = []
    try:
        for index, item in enumerate(items):
            # Bounded although it has no timeout: every item's steps are (action timeouts, waits, approvals).
            await workflow.wait_condition(slots.may_start)
            if slots.stop:
                break
            slots.used += 1
            tasks.append(asyncio.create_task(one(index, item)))
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await settle(tasks)
        raise
    for outcome in await settle(tasks):
        if isinstance(outcome, BaseException):
            raise outcome
    return ends


def _describe(end: ListEnd) -> str:
    return end.describe() if hasattr(end, "describe") else f"goto {getattr(end, 'target', '?')} cannot leave the block"
