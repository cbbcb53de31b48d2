"""A threat-intelligence feed sync as Temporal carries it: small requests and counts, never the indicators.

The indicators go from the feed to the store inside one activity; history holds only cursors and counts.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

MAX_REASONS = 20


class SyncCounts(BaseModel):
    """What a sync changed so far, summed over its pages (and the sweep at the end)."""

    pages: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped: int = 0
    removed: int = 0
    reasons: list[str] = Field(default_factory=list, max_length=MAX_REASONS, description="first skip reasons")

    def add(self, page: PageOutcome) -> None:
        self.pages += 1
        self.added += page.added
        self.updated += page.updated
        self.unchanged += page.unchanged
        self.rejected += page.rejected
        self.skipped += page.skipped
        self.reasons = (self.reasons + page.reasons)[:MAX_REASONS]


class FeedSyncInput(BaseModel):
    """Start a FeedSyncWorkflow for one configured feed. `full`: read everything even where the feed can resume
    (TAXII), so the sweep removes what the feed no longer lists. The rest is carried across continue-as-new."""

    feed: str = Field(min_length=1, max_length=64)
    full: bool = False
    sync_id: str | None = None
    cursor: str | None = Field(None, max_length=4096)
    resume_after: str | None = Field(None, max_length=200)
    incremental: bool = False
    counts: SyncCounts = Field(default_factory=SyncCounts)
    take_over: str | None = Field(None, description="a sync known to have ended without finishing: replace it")


class BeginSync(BaseModel):
    feed: str
    sync_id: str
    full: bool = False
    take_over: str | None = Field(None, description="a sync known to have ended without finishing: replace it")


class SyncStart(BaseModel):
    """Where the sync starts: incremental from `resume_after` (TAXII's last date added), or full."""

    incremental: bool
    resume_after: str | None = None


class PageRequest(BaseModel):
    feed: str
    sync_id: str
    cursor: str | None = Field(None, max_length=4096)
    resume_after: str | None = Field(None, max_length=200)


class PageOutcome(BaseModel):
    """One applied page: the cursor of the next (None: done), counts, and where a later sync resumes."""

    next_cursor: str | None = Field(None, max_length=4096)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped: int = 0
    reasons: list[str] = Field(default_factory=list, max_length=MAX_REASONS)
    resume_after: str | None = Field(None, max_length=200)


class FinishSync(BaseModel):
    feed: str
    sync_id: str
    sweep: bool
    resume_after: str | None = None


class SyncFailure(BaseModel):
    feed: str
    sync_id: str | None = None
    error: str = Field(max_length=1000)


class FeedSyncResult(BaseModel):
    """How a sync ended (a failed sync fails its workflow instead, its error recorded on the feed's status)."""

    feed: str
    sync_id: str
    status: Literal["completed", "skipped"] = "completed"
    incremental: bool = False
    counts: SyncCounts = Field(default_factory=SyncCounts)
    under_way: str | None = Field(None, description="skipped: the id of the sync already under way")
    entries: int = Field(0, description="the feed's entries in the store after the sync")
