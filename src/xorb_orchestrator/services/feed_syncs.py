"""Feed syncs as a use case: one Temporal Schedule per configured feed, syncs on demand, and the feeds' state.

Schedules are reconciled with XORB_TI_FEEDS_FILE whenever a worker starts: created or updated for every feed,
deleted (with the feed's indicators) for feeds no longer configured, so a feed taken out stops speaking.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from xorb_orchestrator.infrastructure.indicator_store import IndicatorStore
from xorb_orchestrator.intel.feeds_config import FeedConfig, FeedsConfig
from xorb_orchestrator.models.feed_sync import FeedSyncInput, FeedSyncResult
from xorb_orchestrator.models.ids import feed_schedule_id, feed_sync_id
from xorb_orchestrator.workflows.intel.feed_sync import FeedSyncWorkflow

log = logging.getLogger(__name__)

SCHEDULE_PREFIX = feed_schedule_id("")
SYNC_RUN_TIMEOUT = timedelta(hours=6)  # a sync that runs this long is stuck: end it, the next one starts over


class SyncFailed(Exception):
    """A sync of a feed failed; the message is its reason (also recorded on the feed's status)."""


def _schedule(feed: FeedConfig, task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            FeedSyncWorkflow.run,
            FeedSyncInput(feed=feed.name),
            id=feed_sync_id(feed.name),
            task_queue=task_queue,
            execution_timeout=SYNC_RUN_TIMEOUT,
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=feed.interval)]),
        # One sync of a feed at a time; a sync still running when the next is due makes that one wait its turn.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def reconcile_schedules(client: Client, feeds: FeedsConfig, task_queue: str, store: IndicatorStore) -> None:
    """Make the Schedules match the feeds file: one per feed, none for feeds no longer there."""
    wanted = {feed_schedule_id(feed.name): feed for feed in feeds.feeds}
    existing = set()
    async for listed in await client.list_schedules():
        if listed.id.startswith(SCHEDULE_PREFIX):
            existing.add(listed.id)
    for schedule_id, feed in wanted.items():
        schedule = _schedule(feed, task_queue)
        if schedule_id in existing:

            def replace(_: ScheduleUpdateInput, schedule: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)

            await client.get_schedule_handle(schedule_id).update(replace)
        else:
            # The first sync now: a new feed should not wait a whole interval to be known. (Another worker
            # may have created it meanwhile.)
            with contextlib.suppress(ScheduleAlreadyRunningError):
                await client.create_schedule(schedule_id, schedule, trigger_immediately=True)
    for schedule_id in existing - wanted.keys():
        await client.get_schedule_handle(schedule_id).delete()
        log.info("feed schedule %s deleted: its feed is no longer in XORB_TI_FEEDS_FILE", schedule_id)
    configured = {feed.name for feed in feeds.feeds}
    for status in await store.feeds():
        if status.source not in configured:
            removed = await store.remove_source(status.source)
            log.info("feed %s is no longer configured: its %d indicators were removed", status.source, removed)


async def start_sync(
    client: Client, store: IndicatorStore, task_queue: str, feed: str, *, full: bool = False
) -> WorkflowHandle[Any, FeedSyncResult]:
    """The sync of `feed` under way (scheduled or on demand: it is joined), else a new one started now."""
    under_way = (await store.feed(feed)).running_sync
    dead = None
    if under_way:
        handle = sync_handle(client, under_way)
        if await _running(client, handle.id):
            if not full:
                return handle
        else:
            dead = under_way  # terminated or timed out before it could say so: the new sync replaces it
    return await client.start_workflow(
        FeedSyncWorkflow.run,
        FeedSyncInput(feed=feed, full=full, take_over=dead),
        id=feed_sync_id(feed),
        task_queue=task_queue,
        execution_timeout=SYNC_RUN_TIMEOUT,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )


async def _running(client: Client, workflow_id: str) -> bool:
    """Whether the sync's workflow (its latest run: a sync continues as new) is still running."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return description.status == WorkflowExecutionStatus.RUNNING


def sync_handle(client: Client, sync_id: str) -> WorkflowHandle[Any, FeedSyncResult]:
    """The workflow of a sync, from its id (`<workflow id>/<first run id>`); its result follows continue-as-new."""
    workflow_id, _, run_id = sync_id.rpartition("/")
    return client.get_workflow_handle(workflow_id or sync_id, run_id=run_id or None, result_type=FeedSyncResult)


async def sync_result(client: Client, handle: WorkflowHandle[Any, FeedSyncResult]) -> FeedSyncResult:
    """Wait for a sync (one that found another under way waits for that one); SyncFailed with its reason."""
    try:
        result = await handle.result()
        if result.status == "skipped" and result.under_way:
            result = await sync_handle(client, result.under_way).result()
        return result
    except WorkflowFailureError as exc:
        cause = exc.cause
        while cause.__cause__ is not None:
            cause = cause.__cause__
        raise SyncFailed(str(cause)) from None
    except RPCError as exc:
        raise SyncFailed(f"Temporal did not answer about the sync: {exc.message}") from None
