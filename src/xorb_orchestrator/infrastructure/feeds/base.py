"""What every feed reader returns, one page at a time, and how it fails.

A sync (workflows/intel) asks a reader for page after page, each by the cursor the previous page returned, and
applies each page to the indicator store atomically. A page is bounded (MAX_PAGE verdicts) so that one activity
does a bounded amount of work and a failed page is simply asked for again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from xorb_orchestrator.models.verdict import SourceVerdict

MAX_PAGE = 1000  # verdicts per page: the indicator store's apply_page bound


class FeedError(Exception):
    """Reading the feed failed. The message is one line for `xorb ti feeds`, never carrying a secret."""


class FeedUnavailable(FeedError):
    """Try again later: the server is unreachable, timed out, answered 5xx or 429, or the transfer broke off."""


class FeedRejected(FeedError):
    """Trying again will not help: 401/403/404, a document that is not of the feed's format, a missing secret."""


class FeedNotFound(FeedRejected):
    """404 or 410, or no such file: the document is not there (a MISP feed skips an event it lists but lacks)."""


@dataclass(frozen=True)
class FeedPage:
    """One page of a feed: its verdicts (at most MAX_PAGE), the cursor of the next page (None: this was the last),
    what was skipped and why, and (TAXII) the point a later sync resumes from once this sync has finished."""

    verdicts: list[SourceVerdict]
    next_cursor: str | None
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)
    resume_after: str | None = None


class FeedReader(Protocol):
    async def read_page(self, cursor: str | None) -> FeedPage:
        """The page at `cursor` (None: the first page; for an incremental feed, `start` decides where that is)."""
        ...

    async def close(self) -> None: ...
