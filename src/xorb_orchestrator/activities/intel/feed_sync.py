"""The activities of a feed sync: begin, one page at a time (read from the feed, applied to the store), finish.

Each page is read and applied inside one activity, so the indicators never enter Temporal's history; a page that
fails is asked for again (applying a page twice changes nothing), and a sync that never finishes removes nothing.
Feed credentials are references resolved by the readers at call time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.infrastructure.feeds import open_reader
from xorb_orchestrator.infrastructure.feeds.base import FeedRejected, FeedUnavailable
from xorb_orchestrator.infrastructure.indicator_store import (
    IndicatorStore,
    IndicatorStoreUnavailable,
    SyncNotRunning,
)
from xorb_orchestrator.intel.decay import with_feed_lifetimes
from xorb_orchestrator.intel.feeds_config import FeedConfig, FeedsConfig, FeedType
from xorb_orchestrator.models.feed_sync import (
    MAX_REASONS,
    BeginSync,
    FinishSync,
    PageOutcome,
    PageRequest,
    SyncFailure,
    SyncStart,
)

# Feeds that can resume where the last finished sync stopped instead of reading everything again.
INCREMENTAL = (FeedType.TAXII,)
# A sync that applied no page for this long is taken for dead (its worker gone, its workflow terminated): a new
# sync may take over. Longer than a page's timeout with its retries.
STALE_SYNC = timedelta(minutes=15)


class FeedSyncActivities:
    def __init__(self, feeds: FeedsConfig, store: IndicatorStore) -> None:
        self._feeds = feeds
        self._store = store

    def _feed(self, name: str) -> FeedConfig:
        feed = self._feeds.feed(name)
        if feed is None:
            known = ", ".join(f.name for f in self._feeds.feeds) or "none"
            raise ApplicationError(
                f"no feed named {name!r} in XORB_TI_FEEDS_FILE (configured: {known})",
                type="UnknownFeed",
                non_retryable=True,
            )
        return feed

    @activity.defn(name="ti.begin_sync")
    async def begin_sync(self, request: BeginSync) -> SyncStart:
        feed = self._feed(request.feed)
        try:
            running = await self._store.feed(feed.name)
            alive = running.running_since()
            other = running.running_sync not in (None, request.sync_id, request.take_over)
            if other and alive and _now() - alive < STALE_SYNC:
                # One sync of a feed at a time: a scheduled and an on-demand one must not supersede each other.
                raise ApplicationError(
                    f"sync {running.running_sync} of feed {feed.name!r} is under way",
                    running.running_sync,
                    type="SyncRunning",
                    non_retryable=True,
                )
            status = await self._store.begin_sync(feed.name, request.sync_id)
        except IndicatorStoreUnavailable as exc:
            raise ApplicationError(str(exc), type="StoreUnavailable") from None
        if feed.type in INCREMENTAL and not request.full and status.resume_after:
            return SyncStart(incremental=True, resume_after=status.resume_after)
        return SyncStart(incremental=False)

    @activity.defn(name="ti.sync_page")
    async def sync_page(self, request: PageRequest) -> PageOutcome:
        feed = self._feed(request.feed)
        reader = open_reader(feed, sync_id=request.sync_id, resume_after=request.resume_after)
        try:
            page = await reader.read_page(request.cursor)
            verdicts = page.verdicts
            if feed.lifetimes:
                verdicts = [with_feed_lifetimes(verdict, feed.lifetimes) for verdict in verdicts]
            applied = await self._store.apply_page(feed.name, verdicts, sync_id=request.sync_id)
            await self._store.mark_progress(feed.name)
        except FeedRejected as exc:
            raise ApplicationError(str(exc), type="FeedRejected", non_retryable=True) from None
        except FeedUnavailable as exc:
            raise ApplicationError(str(exc), type="FeedUnavailable") from None
        except IndicatorStoreUnavailable as exc:
            raise ApplicationError(str(exc), type="StoreUnavailable") from None
        finally:
            await reader.close()
        return PageOutcome(
            next_cursor=page.next_cursor,
            added=applied.added,
            updated=applied.updated,
            unchanged=applied.unchanged,
            rejected=applied.rejected,
            skipped=page.skipped,
            reasons=(page.reasons + applied.rejected_reasons)[:MAX_REASONS],
            resume_after=page.resume_after or request.resume_after,
        )

    @activity.defn(name="ti.finish_sync")
    async def finish_sync(self, request: FinishSync) -> tuple[int, int]:
        """Sweep (full syncs) and close the sync: (entries removed, the feed's entries now)."""
        feed = self._feed(request.feed)
        try:
            status = await self._store.finish_sync(
                feed.name, request.sync_id, sweep=request.sweep, resume_after=request.resume_after
            )
        except SyncNotRunning as exc:
            raise ApplicationError(
                f"{exc}: a newer sync took over", type="SyncSuperseded", non_retryable=True
            ) from None
        except IndicatorStoreUnavailable as exc:
            raise ApplicationError(str(exc), type="StoreUnavailable") from None
        metrics.TI_SYNCS.labels(feed.name, "completed").inc()
        metrics.TI_FEED_LAST_SUCCESS.labels(feed.name).set(time.time())
        metrics.TI_FEED_ENTRIES.labels(feed.name).set(status.entries)
        if status.started_at is not None and status.finished_at is not None:
            seconds = (status.finished_at - status.started_at).total_seconds()
            metrics.TI_SYNC_DURATION.labels(feed.name).observe(max(0.0, seconds))
        return status.removed, status.entries

    @activity.defn(name="ti.record_failure")
    async def record_failure(self, request: SyncFailure) -> None:
        """Note why a sync failed on the feed's status (`xorb ti feeds`); what it applied stays, unswept."""
        metrics.TI_SYNCS.labels(request.feed, "failed").inc()
        try:
            await self._store.record_error(request.feed, request.error, sync_id=request.sync_id)
        except IndicatorStoreUnavailable as exc:
            raise ApplicationError(str(exc), type="StoreUnavailable") from None


def _now() -> datetime:
    return datetime.now(UTC)
