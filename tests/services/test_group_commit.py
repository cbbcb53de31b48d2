"""GroupCommit, our own batching primitive: unit tests with a fake `send` (no Temporal needed).

The fake records every call and can be held open, so a test decides exactly which items arrive
while a call is in flight: those must all go in the next call for their key, and only there.
"""

from __future__ import annotations

import asyncio

import pytest

from xorb_orchestrator.services.group_commit import GroupCommit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(10)]


class Boom(Exception):
    pass


class FakeSend:
    """Records (key, items) per call. Call n of a key can be held open, or made to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self._gates: dict[tuple[str, int], asyncio.Event] = {}
        self._failures: dict[tuple[str, int], Exception] = {}

    def hold(self, key: str, call: int) -> None:
        """Call number `call` (from 1) for `key` waits until released."""
        self._gates[key, call] = asyncio.Event()

    def release(self, key: str, call: int) -> None:
        self._gates[key, call].set()

    def fail(self, key: str, call: int, error: Exception) -> None:
        self._failures[key, call] = error

    async def __call__(self, key: str, items: list[int]) -> None:
        self.calls.append((key, list(items)))
        number = len(self.batches(key))
        gate = self._gates.get((key, number))
        if gate is not None:
            await gate.wait()
        error = self._failures.get((key, number))
        if error is not None:
            raise error

    async def wait_entered(self, key: str, calls: int) -> None:
        """Until `key` has had `calls` calls (the drain task runs on the next loop turns)."""
        while len(self.batches(key)) < calls:
            await asyncio.sleep(0)

    def batches(self, key: str) -> list[list[int]]:
        return [items for k, items in self.calls if k == key]


async def settle() -> None:
    """Let every ready task run until nothing changes (a few loop turns)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_first_item_is_sent_at_once() -> None:
    send = FakeSend()
    commit: GroupCommit[int] = GroupCommit(send)
    # No timer, no waiting for company: one item on its own is sent in the next loop turns.
    await asyncio.wait_for(commit.submit("incident-a", 1), timeout=1)
    assert send.calls == [("incident-a", [1])]


async def test_items_arriving_during_a_call_share_the_next_call() -> None:
    send = FakeSend()
    commit: GroupCommit[int] = GroupCommit(send)
    send.hold("k", 1)
    first = asyncio.create_task(commit.submit("k", 0))
    await send.wait_entered("k", 1)
    assert send.batches("k") == [[0]]

    # Ten more while the first call is in flight: none is sent yet ...
    later = [asyncio.create_task(commit.submit("k", i)) for i in range(1, 11)]
    await settle()
    assert send.batches("k") == [[0]]
    assert not first.done() and not any(t.done() for t in later)

    # ... and when it returns they all go in ONE call, in the order they came.
    send.release("k", 1)
    await asyncio.wait_for(asyncio.gather(first, *later), timeout=1)
    assert send.batches("k") == [[0], list(range(1, 11))]


async def test_a_caller_returns_only_when_its_own_batch_was_sent() -> None:
    send = FakeSend()
    commit: GroupCommit[int] = GroupCommit(send)
    send.hold("k", 1)
    send.hold("k", 2)
    first = asyncio.create_task(commit.submit("k", 0))
    await send.wait_entered("k", 1)
    second = asyncio.create_task(commit.submit("k", 1))
    send.release("k", 1)
    await asyncio.wait_for(first, timeout=1)
    # The second call has started but is held: its caller must still be waiting.
    await send.wait_entered("k", 2)
    await settle()
    assert not second.done()
    send.release("k", 2)
    await asyncio.wait_for(second, timeout=1)
    assert send.batches("k") == [[0], [1]]


async def test_different_keys_are_independent() -> None:
    send = FakeSend()
    commit: GroupCommit[int] = GroupCommit(send)
    send.hold("slow", 1)
    send.fail("slow", 1, Boom("slow failed"))
    slow = asyncio.create_task(commit.submit("slow", 1))
    await send.wait_entered("slow", 1)

    # A held call for one key does not delay, batch with, or fail another key.
    await asyncio.wait_for(commit.submit("fast", 2), timeout=1)
    await asyncio.wait_for(commit.submit("fast", 3), timeout=1)
    assert send.batches("fast") == [[2], [3]]
    assert not slow.done()

    send.release("slow", 1)
    with pytest.raises(Boom):
        await asyncio.wait_for(slow, timeout=1)
    await asyncio.wait_for(commit.submit("fast", 4), timeout=1)
    assert send.batches("fast") == [[2], [3], [4]]
    assert send.batches("slow") == [[1]]


async def test_max_batch_is_respected() -> None:
    send = FakeSend()
    commit: GroupCommit[int] = GroupCommit(send, max_batch=4)
    send.hold("k", 1)
    first = asyncio.create_task(commit.submit("k", 0))
    await send.wait_entered("k", 1)
    queued = [asyncio.create_task(commit.submit("k", i)) for i in range(1, 11)]
    await settle()
    send.release("k", 1)
    await asyncio.wait_for(asyncio.gather(first, *queued), timeout=1)

    batches = send.batches("k")
    assert batches == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert [i for batch in batches for i in batch] == list(range(11))  # each item exactly once, in order


async def test_batches_are_bounded_in_bytes_and_a_large_item_goes_alone() -> None:
    # Temporal refuses a payload over 2 MB: a batch of big alerts must be cut by size, not only by count.
    send = FakeSend()
    commit: GroupCommit[int] = GroupCommit(send, max_batch=100, max_bytes=10, size=lambda item: item)
    send.hold("k", 1)
    first = asyncio.create_task(commit.submit("k", 1))
    await send.wait_entered("k", 1)
    queued = [asyncio.create_task(commit.submit("k", i)) for i in (4, 4, 4, 30, 2, 9)]
    await settle()
    send.release("k", 1)
    await asyncio.wait_for(asyncio.gather(first, *queued), timeout=1)
    assert send.batches("k") == [[1], [4, 4], [4], [30], [2], [9]]


async def test_many_concurrent_submitters_are_each_sent_exactly_once() -> None:
    sent: list[int] = []
    calls = 0

    async def send(key: str, items: list[int]) -> None:
        nonlocal calls
        calls += 1
        assert len(items) <= 50
        await asyncio.sleep(0.001)  # a real round trip takes time: that is when batches form
        sent.extend(items)

    commit: GroupCommit[int] = GroupCommit(send, max_batch=50)
    await asyncio.wait_for(asyncio.gather(*(commit.submit("k", i) for i in range(1000))), timeout=5)
    assert sorted(sent) == list(range(1000))
    assert calls <= 1000 // 50 + 2  # batched: a handful of calls, not a thousand


async def test_a_failed_send_reaches_exactly_the_waiters_of_that_batch() -> None:
    send = FakeSend()
    commit: GroupCommit[int] = GroupCommit(send)
    # Call 1 ([0]) succeeds; call 2 ([1, 2, 3]) fails, held open so that 4 and 5 queue behind it.
    send.hold("k", 1)
    send.hold("k", 2)
    send.fail("k", 2, Boom("Temporal said no"))
    first = asyncio.create_task(commit.submit("k", 0))
    await send.wait_entered("k", 1)
    doomed = [asyncio.create_task(commit.submit("k", i)) for i in (1, 2, 3)]
    await settle()
    send.release("k", 1)
    await send.wait_entered("k", 2)
    survivors = [asyncio.create_task(commit.submit("k", i)) for i in (4, 5)]
    await settle()
    send.release("k", 2)

    results = await asyncio.wait_for(asyncio.gather(*doomed, return_exceptions=True), timeout=1)
    assert [type(r) for r in results] == [Boom, Boom, Boom]
    assert all(str(r) == "Temporal said no" for r in results)
    # The batch before the failure succeeded; the one after it is sent and its waiters succeed.
    assert await asyncio.wait_for(asyncio.gather(*survivors), timeout=1) == [None, None]
    assert first.result() is None
    assert send.batches("k") == [[0], [1, 2, 3], [4, 5]]

    # And the key keeps working afterwards.
    await asyncio.wait_for(commit.submit("k", 6), timeout=1)
    assert send.batches("k")[-1] == [6]


async def test_a_failure_of_a_lone_call_does_not_stick() -> None:
    send = FakeSend()
    commit: GroupCommit[int] = GroupCommit(send)
    send.fail("k", 1, Boom("first call failed"))
    with pytest.raises(Boom):
        await asyncio.wait_for(commit.submit("k", 1), timeout=1)
    await asyncio.wait_for(commit.submit("k", 2), timeout=1)
    assert send.batches("k") == [[1], [2]]


async def test_a_caller_that_gives_up_does_not_disturb_the_others() -> None:
    """A client that disconnects mid-request cancels its own wait, not its batch-mates'."""
    send = FakeSend()
    commit: GroupCommit[int] = GroupCommit(send)
    send.hold("k", 1)
    first = asyncio.create_task(commit.submit("k", 0))
    await send.wait_entered("k", 1)
    quitter = asyncio.create_task(commit.submit("k", 1))
    stayer = asyncio.create_task(commit.submit("k", 2))
    await settle()
    quitter.cancel()
    await settle()
    send.release("k", 1)
    await asyncio.wait_for(asyncio.gather(first, stayer), timeout=1)
    assert quitter.cancelled()
    assert send.batches("k")[-1] == [1, 2]  # already queued: still sent (never silently dropped)
    await asyncio.wait_for(commit.submit("k", 3), timeout=1)
    assert send.batches("k")[-1] == [3]
