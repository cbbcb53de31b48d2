"""Threat-intelligence feeds as pages: one reader per feed type, each page one bounded activity's work.

`open_reader` picks the reader for a configured feed. base.py holds the contract (FeedPage, FeedReader and the two
failures: FeedUnavailable, try again later; FeedRejected, trying again will not help).
"""

from __future__ import annotations

from xorb_orchestrator.infrastructure.feeds.base import FeedReader
from xorb_orchestrator.infrastructure.feeds.document import DocumentReader
from xorb_orchestrator.infrastructure.feeds.misp_api import MispApiReader
from xorb_orchestrator.infrastructure.feeds.misp_feed import MispFeedReader
from xorb_orchestrator.infrastructure.feeds.taxii import TaxiiReader
from xorb_orchestrator.intel.feeds_config import FeedConfig, FeedType

__all__ = ["open_reader"]


def open_reader(feed: FeedConfig, *, sync_id: str, resume_after: str | None = None) -> FeedReader:
    """The reader of `feed` for the sync `sync_id`; `resume_after` (TAXII only): where a finished sync stopped."""
    if feed.type is FeedType.TAXII:
        return TaxiiReader(feed, sync_id=sync_id, resume_after=resume_after)
    if feed.type is FeedType.MISP_FEED:
        return MispFeedReader(feed, sync_id=sync_id)
    if feed.type is FeedType.MISP_API:
        return MispApiReader(feed)
    return DocumentReader(feed, sync_id=sync_id)
