"""MISP's REST API, `/attributes/restSearch`, page by page, against a stub that answers as MISP documents it:
the key bare in `Authorization`, `page` counted from 1, `{"response": {"Attribute": [...]}}`, and 403 for a bad key."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.infrastructure.feeds.conftest import TOKEN_VARIABLE
from tests.infrastructure.feeds.servers import Answer, FeedServer, Seen
from xorb_orchestrator.infrastructure.feeds import open_reader
from xorb_orchestrator.infrastructure.feeds.base import MAX_PAGE, FeedPage, FeedRejected
from xorb_orchestrator.infrastructure.feeds.misp_api import LIMIT
from xorb_orchestrator.intel.feeds_config import FeedConfig
from xorb_orchestrator.models.verdict import IndicatorKind, Tlp

ATTRIBUTES = 1100


def _attribute(n: int) -> dict[str, Any]:
    kind, value = (
        ("domain|ip", f"c2-{n}.example.net|198.51.{n // 250}.{n % 250 + 1}") if n % 2 else ("sha256", f"{n:064x}")
    )
    return {
        "id": str(50000 + n),
        "event_id": "1207",
        "object_id": "0",
        "category": "Network activity" if n % 2 else "Payload delivery",
        "type": kind,
        "to_ids": n % 10 != 7,  # some context attributes: MISP leaves them out when asked for to_ids only
        "uuid": str(uuid.UUID(int=n + 1)),
        "timestamp": str(1700000000 + n),
        "distribution": "5",
        "deleted": n == 4,
        "value": value,
        "Event": {"org_id": "1", "distribution": "1", "id": "1207", "info": "C2 infrastructure", "orgc_id": "1"},
        "Tag": [{"id": "3", "name": "tlp:amber", "colour": "#FFC000", "is_galaxy": False, "local": 0}],
    }


class MispStub:
    """`POST /attributes/restSearch` as MISP answers it, for one API key."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.attributes = [_attribute(n) for n in range(ATTRIBUTES)]

    def __call__(self, seen: Seen) -> Answer:
        if seen.method != "POST":
            return Answer(b'{"name": "Method not allowed", "url": "/attributes/restSearch"}', 405)
        if seen.headers.get("Authorization") != self.key:
            failed = (
                b'{"name": "Authentication failed. Please make sure you pass the API key of an API enabled user '
                b'along in the Authorization header.", "message": "Authentication failed.", '
                b'"url": "/attributes/restSearch"}'
            )
            return Answer(failed, 403, {"Content-Type": "application/json"})
        query = seen.body
        matching = [
            a
            for a in self.attributes
            if (not query.get("to_ids") or a["to_ids"]) and (query.get("deleted", True) or not a["deleted"])
        ]
        page, limit = int(query["page"]), int(query["limit"])
        found = matching[(page - 1) * limit : page * limit]
        return Answer(
            json.dumps({"response": {"Attribute": found}}).encode(), headers={"Content-Type": "application/json"}
        )


def _feed(url: str, auth: dict[str, str]) -> FeedConfig:
    return FeedConfig.model_validate({"name": "misp-local", "type": "misp-api", "url": url, "auth": auth})


async def test_pages_until_misp_returns_fewer_than_the_limit(feed_server: FeedServer, token: str) -> None:
    stub = MispStub(token)
    feed_server.answer("/attributes/restSearch", stub)
    feed = _feed(f"{feed_server.url}/", {"type": "header", "header": "Authorization", "token": f"env:{TOKEN_VARIABLE}"})
    reader = open_reader(feed, sync_id="s1")
    pages: list[FeedPage] = [await reader.read_page(None)]
    while pages[-1].next_cursor is not None:
        pages.append(await reader.read_page(pages[-1].next_cursor))
    await reader.close()

    wanted = [a for a in stub.attributes if a["to_ids"] and not a["deleted"]]  # 989 attributes
    assert LIMIT == MAX_PAGE // 2  # a domain|ip attribute gives two verdicts
    assert [page.next_cursor for page in pages] == ["2", None]
    assert all(len(page.verdicts) <= MAX_PAGE for page in pages)
    verdicts = [v for page in pages for v in page.verdicts]
    pairs = sum(1 for a in wanted if a["type"] == "domain|ip")
    assert len(verdicts) == len(wanted) + pairs
    assert {v.kind for v in verdicts} == {IndicatorKind.DOMAIN, IndicatorKind.IPV4, IndicatorKind.SHA256}
    assert all(v.tlp is Tlp.AMBER and not v.revoked for v in verdicts)

    calls = feed_server.requests_for("/attributes/restSearch")
    assert [call.body for call in calls] == [
        {
            "returnFormat": "json",
            "to_ids": True,
            "deleted": False,
            "includeEventTags": True,
            "page": page,
            "limit": LIMIT,
        }
        for page in (1, 2)
    ]
    assert {(c.headers["Authorization"], c.headers["Accept"], c.headers["Content-Type"]) for c in calls} == {
        (token, "application/json", "application/json")
    }


async def test_a_bearer_token_goes_bare_as_misp_reads_it(feed_server: FeedServer, token: str) -> None:
    feed_server.answer("/misp/attributes/restSearch", MispStub(token))
    reader = open_reader(
        _feed(f"{feed_server.url}/misp", {"type": "bearer", "token": f"env:{TOKEN_VARIABLE}"}), sync_id="s1"
    )
    page = await reader.read_page(None)
    await reader.close()
    assert len(page.verdicts) > 0
    assert feed_server.requests_for("/misp/attributes/restSearch")[0].headers["Authorization"] == token


async def test_a_wrong_key_is_rejected_without_showing_it(feed_server: FeedServer, token: str) -> None:
    feed_server.answer("/attributes/restSearch", MispStub("the-right-key"))
    reader = open_reader(_feed(feed_server.url, {"type": "bearer", "token": f"env:{TOKEN_VARIABLE}"}), sync_id="s1")
    with pytest.raises(FeedRejected) as caught:
        await reader.read_page(None)
    await reader.close()
    assert str(caught.value) == (
        f"POST {feed_server.url}/attributes/restSearch answered 403 Forbidden: check the feed's credentials"
    )
    assert token not in str(caught.value)


async def test_a_cursor_that_is_not_a_page_number_is_rejected(feed_server: FeedServer, token: str) -> None:
    reader = open_reader(_feed(feed_server.url, {"type": "bearer", "token": f"env:{TOKEN_VARIABLE}"}), sync_id="s1")
    with pytest.raises(FeedRejected, match="cursor '0' is not a MISP page number"):
        await reader.read_page("0")
    await reader.close()
    assert feed_server.seen == []
