"""A MISP instance's REST API: `POST {url}/attributes/restSearch`, one page of attributes per feed page.

The request asks for attributes meant for detection (`to_ids`) and not deleted, with the event's tags included, so
an event's `tlp:` tag reaches its attributes. The cursor is the next page number (MISP counts from 1); a page with
fewer attributes than the limit is the last. The limit is MAX_PAGE divided by the most verdicts one attribute can
give (`domain|ip` gives two), so a page never holds more than MAX_PAGE verdicts.

MISP takes its key bare in `Authorization` (or `X-MISP-AUTH`): `auth: {type: header, header: Authorization}` sends
it that way, and so does `type: bearer`, since MISP does not read `Bearer <key>`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from xorb_orchestrator.infrastructure.feeds.base import MAX_PAGE, FeedPage, FeedRejected
from xorb_orchestrator.infrastructure.feeds.http import FeedClient, json_document, shown
from xorb_orchestrator.intel.batch import FeedFormatError
from xorb_orchestrator.intel.feeds_config import AuthType, FeedAuth, FeedConfig, FeedType
from xorb_orchestrator.intel.misp import ATTRIBUTE_KINDS, parse_misp_attributes

LIMIT = MAX_PAGE // max(len(kinds) for kinds in ATTRIBUTE_KINDS.values())
SEARCH = "/attributes/restSearch"


class MispApiReader:
    """Pages of one MISP instance's attributes for one sync."""

    def __init__(self, feed: FeedConfig) -> None:
        if feed.type is not FeedType.MISP_API:
            raise ValueError(f"a {feed.type} feed is not read through MISP's API")
        self._feed = feed
        self._url = feed.url.rstrip("/") + SEARCH
        self._http = FeedClient()

    async def read_page(self, cursor: str | None) -> FeedPage:
        page = _page_number(cursor)
        query = {
            "returnFormat": "json",
            "to_ids": True,
            "deleted": False,
            "includeEventTags": True,
            "page": page,
            "limit": LIMIT,
        }
        fetched = await self._http.post(
            self._url, misp_key(self._feed.auth), body=query, headers={"Accept": "application/json"}
        )
        where = f"{shown(self._url)} page {page}"
        document = json_document(fetched.body, where)
        try:
            parsed = await asyncio.to_thread(parse_misp_attributes, document, defaults=self._feed.defaults())
        except FeedFormatError as error:
            raise FeedRejected(f"{where} is not a MISP restSearch answer: {error}") from None
        count = _attribute_count(document)
        return FeedPage(
            verdicts=parsed.verdicts,
            next_cursor=str(page + 1) if count >= LIMIT else None,
            skipped=parsed.skipped,
            reasons=parsed.reasons,
        )

    async def close(self) -> None:
        await self._http.aclose()


def misp_key(auth: FeedAuth | None) -> FeedAuth | None:
    """The feed's credentials as MISP reads them: a bearer token goes bare in Authorization."""
    if auth is not None and auth.type is AuthType.BEARER:
        return FeedAuth(type=AuthType.HEADER, header="Authorization", token=auth.token)
    return auth


def _attribute_count(document: object) -> int:
    """How many attributes MISP sent (not verdicts: those skipped count too), as parse_misp_attributes finds them."""
    response = document.get("response", document) if isinstance(document, Mapping) else None
    attributes = response.get("Attribute") if isinstance(response, Mapping) else None
    return len(attributes) if isinstance(attributes, list) else 0


def _page_number(cursor: str | None) -> int:
    if cursor is None:
        return 1
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 9 or int(cursor) < 1:
        raise FeedRejected(f"cursor {cursor[:40]!r} is not a MISP page number")
    return int(cursor)
