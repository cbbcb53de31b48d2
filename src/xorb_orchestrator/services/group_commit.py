"""Group commit: concurrent alerts for the same incident share one Temporal call.

The first alert for an incident is sent at once. While that call is in flight, further alerts for
the same incident queue up; when it returns they all go in the next call. Under a storm this turns
thousands of round trips into a few, and each caller still learns whether *its* alert was kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
Send = Callable[[str, list[Item]], Awaitable[None]]


class GroupCommit(Generic[Item]):
    """Batches of at most `max_batch` items and `max_bytes` (by `size`; an item larger alone goes alone)."""

    def __init__(
        self,
        send: Send[Item],
        max_batch: int = 500,
        max_bytes: int | None = None,
        size: Callable[[Item], int] | None = None,
    ) -> None:
        self._send = send
        self._max_batch = max_batch
        self._max_bytes = max_bytes
        self._size = size
        self._pending: dict[str, list[tuple[Item, asyncio.Future[None]]]] = {}
        self._draining: dict[str, asyncio.Task[None]] = {}

    async def submit(self, key: str, item: Item) -> None:
        """Returns once `item` was sent as part of a batch; raises what the send raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append((item, future))
        if key not in self._draining:
            self._draining[key] = asyncio.create_task(self._drain(key))
        await future

    async def _drain(self, key: str) -> None:
        try:
            while batch := self._pending.pop(key, None):
                cut = self._cut(batch)
                if cut < len(batch):
                    batch, self._pending[key] = batch[:cut], batch[cut:]
                try:
                    await self._send(key, [item for item, _ in batch])
                except BaseException as exc:  # every waiter must hear about the failure, whatever it is
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            # No await between the empty pop above and this line, so no submit can slip in between.
            self._draining.pop(key, None)
            for _, future in self._pending.pop(key, []) if key in self._pending else []:
                future.set_exception(RuntimeError("group commit stopped"))

    def _cut(self, batch: list[tuple[Item, asyncio.Future[None]]]) -> int:
        """How many items of `batch` go in the next call."""
        limit = min(len(batch), self._max_batch)
        if self._max_bytes is None or self._size is None:
            return limit
        total = 0
        for index, (item, _) in enumerate(batch[:limit]):
            total += self._size(item)
            if total > self._max_bytes:
                return max(1, index)
        return limit
