"""FeedSyncWorkflow: one sync of one threat-intelligence feed, page by page, resumable.

begin -> page, page, ... (each read and applied atomically by one activity; a failed page is retried) -> finish
(a full sync sweeps what the feed no longer lists). A sync that fails is recorded on the feed's status and fails
its workflow; what its pages applied stays, and nothing is swept, so the store holds the feed's old entries plus
whole new pages — consistent — until the next sync completes it. Each feed's Schedule starts one every interval;
`xorb ti sync` starts one on demand.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.activities.intel.feed_sync import FeedSyncActivities
    from xorb_orchestrator.models.feed_sync import (
        BeginSync,
        FeedSyncInput,
        FeedSyncResult,
        FinishSync,
        PageRequest,
        SyncFailure,
    )
    from xorb_orchestrator.models.workflow_names import FEED_SYNC_WORKFLOW
    from xorb_orchestrator.workflows.policies import BOOKKEEPING_RETRY, BOOKKEEPING_TIMEOUT

# A page downloads (the first page of a whole-document feed: the whole document) and applies up to 1,000
# indicators; a feed server that stays down fails the sync after about two minutes, the next one catches up.
PAGE_TIMEOUT = timedelta(minutes=5)
PAGE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
    non_retryable_error_types=["FeedRejected", "UnknownFeed", "SyncSuperseded"],
)
FINISH_TIMEOUT = timedelta(minutes=10)  # a sweep walks every entry the feed no longer lists
PAGES_PER_RUN = 500  # then continue as new, carrying the cursor and the counts
MAX_PAGES = 20_000  # 20 million indicators: a feed this big is a misconfiguration, not a sync


@workflow.defn(name=FEED_SYNC_WORKFLOW)
class FeedSyncWorkflow:
    @workflow.run
    async def run(self, request: FeedSyncInput) -> FeedSyncResult:
        info = workflow.info()
        sync_id = request.sync_id or f"{info.workflow_id}/{info.run_id}"
        counts = request.counts
        try:
            if request.sync_id is None:  # not a continuation: start the sync
                try:
                    start = await workflow.execute_activity_method(
                        FeedSyncActivities.begin_sync,
                        BeginSync(feed=request.feed, sync_id=sync_id, full=request.full, take_over=request.take_over),
                        start_to_close_timeout=BOOKKEEPING_TIMEOUT,
                        retry_policy=BOOKKEEPING_RETRY,
                    )
                except ActivityError as err:
                    cause = err.cause
                    if isinstance(cause, ApplicationError) and cause.type == "SyncRunning":
                        under_way = str(cause.details[0]) if cause.details else None
                        return FeedSyncResult(feed=request.feed, sync_id=sync_id, status="skipped", under_way=under_way)
                    raise
                request = request.model_copy(
                    update={"incremental": start.incremental, "resume_after": start.resume_after}
                )
            cursor, resume_after = request.cursor, request.resume_after
            for _ in range(PAGES_PER_RUN):
                page = await workflow.execute_activity_method(
                    FeedSyncActivities.sync_page,
                    PageRequest(feed=request.feed, sync_id=sync_id, cursor=cursor, resume_after=resume_after),
                    start_to_close_timeout=PAGE_TIMEOUT,
                    retry_policy=PAGE_RETRY,
                )
                counts.add(page)
                cursor, resume_after = page.next_cursor, page.resume_after
                if cursor is None:
                    break
                if counts.pages >= MAX_PAGES:
                    raise ApplicationError(f"more than {MAX_PAGES} pages: is the feed's url right?", type="FeedTooBig")
            else:
                workflow.continue_as_new(
                    request.model_copy(
                        update={"sync_id": sync_id, "cursor": cursor, "resume_after": resume_after, "counts": counts}
                    )
                )
            removed, entries = await workflow.execute_activity_method(
                FeedSyncActivities.finish_sync,
                FinishSync(
                    feed=request.feed, sync_id=sync_id, sweep=not request.incremental, resume_after=resume_after
                ),
                start_to_close_timeout=FINISH_TIMEOUT,
                retry_policy=BOOKKEEPING_RETRY,
            )
        except (ActivityError, ApplicationError) as err:
            error = _reason(err)
            await workflow.execute_activity_method(
                FeedSyncActivities.record_failure,
                SyncFailure(feed=request.feed, sync_id=sync_id, error=error[:1000]),
                start_to_close_timeout=BOOKKEEPING_TIMEOUT,
                retry_policy=BOOKKEEPING_RETRY,
            )
            raise ApplicationError(f"sync of feed {request.feed!r} failed: {error}", type="FeedSyncFailed") from None
        counts.removed = removed
        return FeedSyncResult(
            feed=request.feed, sync_id=sync_id, incremental=request.incremental, counts=counts, entries=entries
        )


def _reason(err: BaseException) -> str:
    """The innermost message: the activity's own words, not Temporal's wrapping."""
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err) or type(err).__name__
