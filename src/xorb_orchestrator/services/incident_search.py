"""Finding incidents by what an analyst remembers: the detector (source), an observable, or any text.

Status, severity and time range are filters Temporal's visibility store answers (search attributes and start
time). Source, observable and text are not indexed there (adding them would be new search attributes every
deployment must register), so they are matched on the incidents' views, newest first, scanning at most
`SCAN_LIMIT` incidents a request; the answer says how many were scanned, and its page token continues the scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from temporalio.client import Client

from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.models.incident import IncidentView
from xorb_orchestrator.services.incidents import BadRequest, IncidentPage, list_incidents

SCAN_LIMIT = 1000
_SCAN_PAGE = 200
MAX_NEEDLE = 200


@dataclass(frozen=True)
class IncidentFilter:
    status: str | None = None
    severity: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    source: str | None = None
    observable: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        for name in ("source", "observable", "text"):
            value = getattr(self, name)
            if value is not None and len(value) > MAX_NEEDLE:
                raise BadRequest(f"{name}: at most {MAX_NEEDLE} characters")

    @property
    def scans(self) -> bool:
        """Whether a filter must be matched on the views (not answered by Temporal's index)."""
        return any((self.source, self.observable, self.text))

    def matches(self, view: IncidentView) -> bool:
        if self.source and view.source.casefold() != self.source.strip().casefold():
            return False
        if self.observable:
            needle = self.observable.strip().casefold()
            if not any(needle in item.value.casefold() for item in view.observables):
                return False
        if self.text:
            needle = self.text.strip().casefold()
            haystack = [view.incident_id, view.title, view.rule or "", view.source, view.correlation_key]
            haystack += [item.value for item in view.observables] + view.techniques
            if not any(needle in field.casefold() for field in haystack):
                return False
        return True


@dataclass
class SearchPage(IncidentPage):
    scanned: int = 0  # incidents looked at for source/observable/text (0: Temporal's index answered alone)


async def search_incidents(
    client: Client,
    cache: IncidentCache,
    wanted: IncidentFilter,
    *,
    page_size: int = 50,
    page_token: str | None = None,
    task_queue: str | None = None,
) -> SearchPage:
    """Newest first. With source/observable/text: whole pages are scanned until `page_size` incidents match or
    `SCAN_LIMIT` were scanned, so a page can hold a few more than `page_size`, or none with a token to go on."""

    async def page(size: int, token: str | None) -> IncidentPage:
        return await list_incidents(
            client,
            cache,
            status=wanted.status,
            severity=wanted.severity,
            page_size=size,
            page_token=token,
            task_queue=task_queue,
            since=wanted.since,
            until=wanted.until,
        )

    if not wanted.scans:
        found = await page(page_size, page_token)
        return SearchPage(found.items, found.next_page_token)
    if not 1 <= page_size <= 500:
        raise BadRequest(f"page_size: expected 1-500, got {page_size}")
    matched: list[IncidentView] = []
    scanned, token = 0, page_token
    while True:
        found = await page(_SCAN_PAGE, token)
        scanned += len(found.items)
        matched += [view for view in found.items if wanted.matches(view)]
        token = found.next_page_token
        if token is None or len(matched) >= page_size or scanned >= SCAN_LIMIT:
            return SearchPage(matched, token, scanned)
