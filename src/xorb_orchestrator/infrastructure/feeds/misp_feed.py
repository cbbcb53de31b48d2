"""A MISP feed directory, over http(s) or on disk: `manifest.json`, then one `<uuid>.json` per event.

The cursor is the decimal index of the next event in the manifest (oldest change first); an event with more verdicts
than fit on the rest of a page is continued on the next one, its cursor then `<index>:<verdict offset>`. A page
reads events until it holds MAX_PAGE verdicts or MAX_EVENTS_PER_PAGE events. A value listed by two events on one
page becomes one verdict (batch.merge). The manifest is read once per sync and kept between pages (recent.py).

An event the manifest lists but the feed no longer serves (404, or no such file) is skipped with a reason: the
manifest kept from the first page may be older than the feed by the time a later page asks.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit, urlunsplit

from xorb_orchestrator.infrastructure.feeds.base import MAX_PAGE, FeedNotFound, FeedPage, FeedRejected
from xorb_orchestrator.infrastructure.feeds.http import FeedClient, json_document, shown
from xorb_orchestrator.infrastructure.feeds.recent import Recent
from xorb_orchestrator.intel.batch import MAX_REASONS, FeedFormatError, ParsedFeed, merge
from xorb_orchestrator.intel.feeds_config import FeedConfig, FeedType
from xorb_orchestrator.intel.misp import Manifest, ManifestEntry, event_file, parse_misp_event, read_manifest
from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict

MAX_EVENTS_PER_PAGE = 50
MANIFESTS: Recent[Manifest] = Recent(8)  # small: about a hundred bytes per event
MANIFEST = "manifest.json"


class MispFeedReader:
    """Pages of one MISP feed for one sync."""

    def __init__(self, feed: FeedConfig, *, sync_id: str) -> None:
        if feed.type is not FeedType.MISP_FEED:
            raise ValueError(f"a {feed.type} feed is not a MISP feed")
        self._feed = feed
        self._sync_id = sync_id
        self._http = FeedClient()

    async def read_page(self, cursor: str | None) -> FeedPage:
        index, offset = _position(cursor)
        manifest = await self._manifest()
        page: dict[tuple[IndicatorKind, str], SourceVerdict] = {}
        skipped, reasons = (manifest.skipped, list(manifest.reasons)) if cursor is None else (0, [])
        events = 0
        while index < len(manifest.events) and events < MAX_EVENTS_PER_PAGE and len(page) < MAX_PAGE:
            parsed = await self._event(manifest.events[index])
            events += 1
            if offset == 0:
                skipped += parsed.skipped
                reasons.extend(parsed.reasons)
            taken = _take(parsed.verdicts[offset:], page)
            if offset + taken < len(parsed.verdicts):
                offset += taken  # the page is full: this event goes on on the next page
                break
            index, offset = index + 1, 0
        done = index >= len(manifest.events)
        return FeedPage(
            verdicts=list(page.values()),
            next_cursor=None if done else str(index) if offset == 0 else f"{index}:{offset}",
            skipped=skipped,
            reasons=reasons[:MAX_REASONS],
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def _manifest(self) -> Manifest:
        key = (self._feed.name, self._sync_id)
        manifest = MANIFESTS.get(key)
        if manifest is None:
            where = self._where(MANIFEST)
            document = json_document(await self._read(MANIFEST), where)
            try:
                manifest = read_manifest(document)
            except FeedFormatError as error:
                raise FeedRejected(f"{where} is not a MISP feed manifest: {error}") from None
            MANIFESTS.put(key, manifest)
        return manifest

    async def _event(self, entry: ManifestEntry) -> ParsedFeed:
        name = event_file(entry.uuid)
        where = self._where(name)
        try:
            body = await self._read(name)
        except FeedNotFound:
            return _skipped(entry.uuid, "missing", "listed in the manifest but not served by the feed")
        try:
            document = json_document(body, where)
            return await asyncio.to_thread(parse_misp_event, document, defaults=self._feed.defaults())
        except (FeedRejected, FeedFormatError) as error:
            return _skipped(entry.uuid, "invalid", str(error))

    async def _read(self, name: str) -> bytes:
        return await self._http.read(_located(self._feed.url, name), self._feed.auth)

    def _where(self, name: str) -> str:
        location = _located(self._feed.url, name)
        return location if location.startswith("/") else shown(location)


def _take(verdicts: list[SourceVerdict], page: dict[tuple[IndicatorKind, str], SourceVerdict]) -> int:
    """Add verdicts to the page while it has room (a value already on it merges); how many were taken."""
    for taken, verdict in enumerate(verdicts):
        key = (verdict.kind, verdict.value)
        known = page.get(key)
        if known is None and len(page) >= MAX_PAGE:
            return taken
        page[key] = verdict if known is None else merge(known, verdict)
    return len(verdicts)


def _skipped(uuid: str, category: str, why: str) -> ParsedFeed:
    return ParsedFeed(verdicts=[], skipped=1, skipped_by={category: 1}, reasons=[f"event {uuid}: {why}"[:200]])


def _located(base: str, name: str) -> str:
    """`name` inside the feed's directory, keeping a query string (some feeds take their key there)."""
    if base.startswith("/"):
        return os.path.join(base, name)
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + name))


def _position(cursor: str | None) -> tuple[int, int]:
    if cursor is None:
        return 0, 0
    index, _, offset = cursor.partition(":")
    if not _number(index) or (offset and not _number(offset)):
        raise FeedRejected(f"cursor {cursor[:40]!r} is not a position in the MISP feed's manifest")
    return int(index), int(offset or 0)


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 12
