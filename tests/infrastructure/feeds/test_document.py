"""Whole-document feeds (CSV, plain lists, warninglists, STIX bundles) read once per sync and served in pages."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.feeds.servers import FeedServer
from tests.support.paths import DATA
from xorb_orchestrator.infrastructure.feeds import open_reader
from xorb_orchestrator.infrastructure.feeds.base import MAX_PAGE, FeedPage, FeedReader, FeedRejected
from xorb_orchestrator.infrastructure.feeds.document import DOCUMENTS, DocumentReader
from xorb_orchestrator.intel.feeds_config import FeedConfig
from xorb_orchestrator.models.verdict import IndicatorKind, Tlp

INTEL = DATA / "intel"
FEODO_COLUMNS = {"value": "dst_ip", "first_seen": "first_seen_utc", "last_seen": "last_online", "tags": "malware"}


def _feed(**fields: Any) -> FeedConfig:
    return FeedConfig.model_validate(fields)


async def _read_all(reader: FeedReader) -> list[FeedPage]:
    pages = [await reader.read_page(None)]
    while pages[-1].next_cursor is not None:
        pages.append(await reader.read_page(pages[-1].next_cursor))
    await reader.close()
    return pages


async def test_a_feodo_tracker_csv_over_http(feed_server: FeedServer) -> None:
    url = feed_server.document("/downloads/ipblocklist.csv", (INTEL / "feodo-ipblocklist.csv").read_bytes())
    feed = _feed(name="feodo", type="csv", url=url, kind="ipv4", columns=FEODO_COLUMNS, score=90, tlp="clear")
    (page,) = await _read_all(open_reader(feed, sync_id=uuid.uuid4().hex))
    assert [(v.value, v.tags, v.score, v.tlp) for v in page.verdicts] == [
        ("198.51.100.205", ["Dridex"], 90, Tlp.CLEAR),
        ("198.51.100.32", ["Dridex"], 90, Tlp.CLEAR),
        ("203.0.113.146", ["QakBot", "Pikabot"], 90, Tlp.CLEAR),
        ("192.0.2.61", ["Pikabot"], 90, Tlp.CLEAR),
    ]
    assert (page.next_cursor, page.skipped, page.resume_after) == (None, 0, None)


async def test_a_plain_list_over_http_reports_what_it_skipped(feed_server: FeedServer) -> None:
    url = feed_server.document("/drop.txt", (INTEL / "blocklist-plain.txt").read_bytes())
    (page,) = await _read_all(open_reader(_feed(name="drop", type="csv", url=url, score=95), sync_id="s1"))
    assert [(v.kind, v.value, v.score) for v in page.verdicts] == [
        (IndicatorKind.IPV4, "192.0.2.0/24", 95),
        (IndicatorKind.IPV4, "198.51.100.0/25", 95),
        (IndicatorKind.IPV4, "203.0.113.9", 95),
        (IndicatorKind.IPV6, "2001:db8:dead::/48", 95),
    ]
    assert page.skipped == 1
    assert page.reasons == ["line 8: cannot tell what kind of indicator 'not-an-address!' is"]


async def test_a_warninglist_over_http_is_known_good(feed_server: FeedServer) -> None:
    url = feed_server.document(
        "/lists/public-dns-v4.json", (INTEL / "warninglists" / "public-dns-v4.json").read_bytes()
    )
    feed = _feed(name="public-dns", type="known-good", url=url, format="misp-warninglist")
    (page,) = await _read_all(open_reader(feed, sync_id=uuid.uuid4().hex))
    assert {v.value for v in page.verdicts} >= {"1.1.1.1", "8.8.8.8", "149.112.112.0/24", "2606:4700:4700::/48"}
    assert all(v.known_good and v.score == 0 for v in page.verdicts)
    assert page.skipped == 1


async def test_a_plain_known_good_list_and_a_stix_bundle_from_files(tmp_path: Path) -> None:
    allow = tmp_path / "allow.txt"
    allow.write_text("# our own resolvers\n10.0.0.53\n10.0.1.53\n")
    feed = _feed(name="our-dns", type="known-good", url=str(allow), format="plain", kind="ipv4")
    (page,) = await _read_all(open_reader(feed, sync_id="s1"))
    assert [(v.value, v.known_good, v.score) for v in page.verdicts] == [("10.0.0.53", True, 0), ("10.0.1.53", True, 0)]
    bundle = _feed(name="cisa-advisory", type="stix-bundle", url=str(INTEL / "stix-advisory-bundle.json"))
    (page,) = await _read_all(open_reader(bundle, sync_id="s1"))
    assert page.verdicts and all(v.reference and v.reference.startswith("indicator--") for v in page.verdicts)


async def test_a_document_not_of_the_feeds_format_is_rejected(feed_server: FeedServer) -> None:
    url = feed_server.document("/bundle.json", "<html>maintenance</html>")
    reader = open_reader(_feed(name="bundle", type="stix-bundle", url=url), sync_id="s1")
    with pytest.raises(FeedRejected) as caught:
        await reader.read_page(None)
    assert str(caught.value) == f"{url} is not JSON at line 1"
    csv_url = feed_server.document("/c2.csv", "# nothing but comments\n198.51.100.1,443\n")
    reader = open_reader(_feed(name="c2", type="csv", url=csv_url, columns={"value": "dst_ip"}), sync_id="s1")
    with pytest.raises(FeedRejected) as caught:
        await reader.read_page(None)
    assert str(caught.value) == (
        f"{csv_url} is not a CSV document with the configured columns: no header line names the columns dst_ip"
    )


async def test_pages_are_offsets_into_one_download(feed_server: FeedServer) -> None:
    lines = ["# 2,500 addresses and one line that is none"] + [f"10.{n // 250}.{n % 250}.1" for n in range(2500)]
    url = feed_server.document("/big.txt", "\n".join([*lines[:100], "not-an-address!", *lines[100:]]) + "\n")
    feed = _feed(name="big", type="csv", url=url, kind="ipv4")
    sync_id = uuid.uuid4().hex
    pages = await _read_all(DocumentReader(feed, sync_id=sync_id))
    assert [(len(p.verdicts), p.next_cursor, p.skipped) for p in pages] == [
        (MAX_PAGE, "1000", 1),
        (MAX_PAGE, "2000", 0),
        (500, None, 0),
    ]
    assert pages[1].reasons == [] and len(pages[0].reasons) == 1
    values = [v.value for page in pages for v in page.verdicts]
    assert values == lines[1:]
    assert len(feed_server.requests_for("/big.txt")) == 1

    # After a worker restart the cache is empty: the page downloads the document again.
    DOCUMENTS.clear()
    reader = DocumentReader(feed, sync_id=sync_id)
    again = await reader.read_page("2000")
    await reader.close()
    assert [v.value for v in again.verdicts] == values[2000:]
    assert len(feed_server.requests_for("/big.txt")) == 2
    # A new sync downloads its own copy.
    await _read_all(DocumentReader(feed, sync_id=uuid.uuid4().hex))
    assert len(feed_server.requests_for("/big.txt")) == 3


async def test_a_cursor_that_is_not_an_offset_is_rejected(feed_server: FeedServer) -> None:
    url = feed_server.document("/list.txt", "198.51.100.1\n")
    reader = DocumentReader(_feed(name="list", type="csv", url=url), sync_id="s1")
    with pytest.raises(FeedRejected, match="cursor '-1' is not an offset into the document"):
        await reader.read_page("-1")
    assert (await reader.read_page("5")).verdicts == []
    await reader.close()
