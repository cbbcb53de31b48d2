"""Feeds that are one whole document: a STIX bundle, a CSV file or plain list, a known-good list.

The document is downloaded and parsed once per sync and served in pages of MAX_PAGE verdicts; the cursor is the
decimal offset of the next verdict. The parsed document stays in DOCUMENTS between pages (see recent.py), so later
pages of the same sync do not download it again. After a worker restart a page downloads it again; should the feed
have changed meanwhile, the offsets point into the new document, and the next sync sets any difference right.
"""

from __future__ import annotations

import asyncio

from xorb_orchestrator.infrastructure.feeds.base import MAX_PAGE, FeedPage, FeedRejected
from xorb_orchestrator.infrastructure.feeds.http import FeedClient, json_document, shown, text_document
from xorb_orchestrator.infrastructure.feeds.recent import Recent
from xorb_orchestrator.intel.batch import FeedFormatError, ParsedFeed
from xorb_orchestrator.intel.csv_feed import parse_csv, parse_plain_list
from xorb_orchestrator.intel.feeds_config import FeedConfig, FeedType, KnownGoodFormat
from xorb_orchestrator.intel.stix import parse_stix
from xorb_orchestrator.intel.warninglist import parse_warninglist

MAX_DOCUMENTS = 2  # parsed documents kept between pages: one can hold a million verdicts
DOCUMENTS: Recent[ParsedFeed] = Recent(MAX_DOCUMENTS)
TYPES = (FeedType.STIX_BUNDLE, FeedType.CSV, FeedType.KNOWN_GOOD)


class DocumentReader:
    """Pages of one whole-document feed for one sync."""

    def __init__(self, feed: FeedConfig, *, sync_id: str) -> None:
        if feed.type not in TYPES:
            raise ValueError(f"a {feed.type} feed is not read as one document")
        self._feed = feed
        self._sync_id = sync_id
        self._http = FeedClient()

    async def read_page(self, cursor: str | None) -> FeedPage:
        offset = _offset(cursor)
        parsed = await self._document()
        verdicts = parsed.verdicts[offset : offset + MAX_PAGE]
        end = offset + len(verdicts)
        first = offset == 0  # what was skipped is told once, with the first page
        return FeedPage(
            verdicts=verdicts,
            next_cursor=str(end) if end < len(parsed.verdicts) else None,
            skipped=parsed.skipped if first else 0,
            reasons=list(parsed.reasons) if first else [],
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _document(self) -> ParsedFeed:
        key = (self._feed.name, self._sync_id)
        parsed = DOCUMENTS.get(key)
        if parsed is None:
            body = await self._http.read(self._feed.url, self._feed.auth)
            # Parsing tens of megabytes takes seconds: off the event loop, so heartbeats and other activities run.
            parsed = await asyncio.to_thread(parse_document, self._feed, body)
            DOCUMENTS.put(key, parsed)
        return parsed


def parse_document(feed: FeedConfig, body: bytes) -> ParsedFeed:
    """The verdicts of a whole-document feed's body, by the feed's type; FeedRejected when it is not of that type."""
    defaults = feed.defaults()
    where = shown(feed.url) if not feed.url.startswith("/") else feed.url
    try:
        if feed.type is FeedType.STIX_BUNDLE:
            return parse_stix(json_document(body, where), defaults=defaults)
        if feed.type is FeedType.KNOWN_GOOD and feed.known_good_format is KnownGoodFormat.MISP_WARNINGLIST:
            return parse_warninglist(json_document(body, where), defaults=defaults)
        known_good = feed.type is FeedType.KNOWN_GOOD
        text = text_document(body)
        if feed.columns is not None:
            return parse_csv(text, columns=feed.columns, defaults=defaults, kind=feed.kind, known_good=known_good)
        return parse_plain_list(text, defaults=defaults, kind=feed.kind, known_good=known_good)
    except FeedFormatError as error:
        raise FeedRejected(f"{where} is not a {_format_name(feed)}: {error}") from None


def _format_name(feed: FeedConfig) -> str:
    if feed.type is FeedType.STIX_BUNDLE:
        return "STIX bundle"
    if feed.type is FeedType.KNOWN_GOOD and feed.known_good_format is KnownGoodFormat.MISP_WARNINGLIST:
        return "MISP warninglist"
    return "CSV document with the configured columns" if feed.columns is not None else "list of values"


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 12:
        raise FeedRejected(f"cursor {cursor[:40]!r} is not an offset into the document")
    return int(cursor)
