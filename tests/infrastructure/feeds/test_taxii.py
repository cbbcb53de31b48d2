"""A TAXII 2.1 collection on medallion, the OASIS reference server: paging across several responses, resuming where
a finished sync stopped, a forgotten `next` token, wrong credentials and a server that went away."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from taxii2client.v21 import Collection

from tests.infrastructure.feeds.conftest import TOKEN_VARIABLE
from tests.infrastructure.feeds.servers import API_ROOT, COLLECTION_ID, TAXII_PASSWORD, TAXII_USER, Medallion
from xorb_orchestrator.infrastructure.feeds import open_reader, taxii
from xorb_orchestrator.infrastructure.feeds.base import FeedPage, FeedReader, FeedRejected, FeedUnavailable
from xorb_orchestrator.infrastructure.feeds.taxii import TaxiiCursor
from xorb_orchestrator.intel.feeds_config import FeedConfig
from xorb_orchestrator.models.verdict import IndicatorKind, Tlp

TLP_AMBER_1_0 = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"  # STIX 2.1 spec, section 7.2.1.4
TLP_CLEAR_2_0 = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"  # OASIS TLP 2.0 extension
CUSTOM_RED = "marking-definition--0f5a3d2c-8e71-4b9a-9c44-1d2e3f4a5b6c"  # this sharing group's own TLP:RED


def _indicator(n: int, pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=n)}",
        "created": "2024-01-09T12:00:00.000Z",
        "modified": "2024-01-09T12:00:00.000Z",
        "indicator_types": ["malicious-activity"],
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-01-09T12:00:00Z",
        **extra,
    }


OBJECTS: list[dict[str, Any]] = [
    {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": CUSTOM_RED,
        "created": "2023-06-01T00:00:00.000Z",
        "name": "TLP:RED",
        "definition_type": "tlp",
        "definition": {"tlp": "red"},
    },
    _indicator(1, "[ipv4-addr:value = '198.51.100.7']", object_marking_refs=[TLP_AMBER_1_0]),
    _indicator(2, "[domain-name:value = 'old-c2.example.com']", revoked=True),
    _indicator(
        3,
        "[url:value = 'http://198.51.100.9/gate.php']",
        valid_from="2023-12-01T00:00:00Z",
        valid_until="2024-01-05T00:00:00Z",
    ),
    _indicator(4, "[ipv4-addr:value = '203.0.113.5'] OR [ipv4-addr:value = '203.0.113.6']"),
    _indicator(5, "[domain-name:value = 'evil-updates.example.net']", object_marking_refs=[CUSTOM_RED]),
    _indicator(
        6,
        "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
        object_marking_refs=[TLP_CLEAR_2_0],
    ),
]
ADDED = [f"2024-01-10T00:00:0{n}.000000Z" for n in range(len(OBJECTS))]
NEWEST = ADDED[-1]
EVERY_VALUE = {
    (IndicatorKind.IPV4, "198.51.100.7"),
    (IndicatorKind.DOMAIN, "old-c2.example.com"),
    (IndicatorKind.URL, "http://198.51.100.9/gate.php"),
    (IndicatorKind.IPV4, "203.0.113.5"),
    (IndicatorKind.IPV4, "203.0.113.6"),
    (IndicatorKind.DOMAIN, "evil-updates.example.net"),
    (IndicatorKind.SHA256, "aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"),
}


def _medallion(folder: Path) -> Medallion:
    # Two objects per response, whatever the client asks: the collection takes four responses.
    return Medallion(folder, list(zip(ADDED, OBJECTS, strict=True)), max_page_size=2).start()


@pytest.fixture(scope="module")
def medallion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Medallion]:
    server = _medallion(tmp_path_factory.mktemp("medallion"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(TOKEN_VARIABLE, TAXII_PASSWORD)
    return TAXII_PASSWORD


def _feed(server: Medallion, **fields: Any) -> FeedConfig:
    auth = {"type": "basic", "username": TAXII_USER, "token": f"env:{TOKEN_VARIABLE}"}
    base = {"name": "cti-taxii", "type": "taxii", "url": f"{server.url}/taxii2/", "collection": "Indicators"}
    return FeedConfig.model_validate({**base, "auth": auth, **fields})


async def _read_all(reader: FeedReader) -> list[FeedPage]:
    pages = [await reader.read_page(None)]
    while pages[-1].next_cursor is not None:
        pages.append(await reader.read_page(pages[-1].next_cursor))
    await reader.close()
    return pages


async def test_pages_across_responses_give_every_indicator_once(medallion: Medallion, password: str) -> None:
    pages = await _read_all(open_reader(_feed(medallion), sync_id=uuid.uuid4().hex))
    assert len(pages) == 4
    verdicts = [v for page in pages for v in page.verdicts]
    assert sorted((v.kind, v.value) for v in verdicts) == sorted(EVERY_VALUE)
    by_value = {v.value: v for v in verdicts}
    assert by_value["198.51.100.7"].tlp is Tlp.AMBER
    assert by_value["198.51.100.7"].score == 80
    assert by_value["old-c2.example.com"].revoked
    assert str(by_value["http://198.51.100.9/gate.php"].valid_until) == "2024-01-05 00:00:00+00:00"
    # Its marking definition came two responses earlier.
    assert by_value["evil-updates.example.net"].tlp is Tlp.RED
    assert by_value["aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"].tlp is Tlp.CLEAR
    assert [page.resume_after for page in pages] == [ADDED[1], ADDED[3], ADDED[5], NEWEST]
    assert all(TAXII_PASSWORD not in (page.next_cursor or "") for page in pages)


async def test_the_collection_is_found_by_id_under_a_configured_api_root(medallion: Medallion, password: str) -> None:
    feed = _feed(medallion, api_root=f"{medallion.url}/{API_ROOT}/", collection=COLLECTION_ID)
    pages = await _read_all(open_reader(feed, sync_id=uuid.uuid4().hex))
    assert {(v.kind, v.value) for page in pages for v in page.verdicts} == EVERY_VALUE


async def test_a_forgotten_next_token_resumes_from_the_newest_applied(medallion: Medallion, password: str) -> None:
    # As when a failed page is retried after the server dropped its paging session.
    stale = TaxiiCursor(next=uuid.uuid4().hex, newest=ADDED[3]).text()
    reader = open_reader(_feed(medallion), sync_id=uuid.uuid4().hex)
    page = await reader.read_page(stale)
    rest = await reader.read_page(page.next_cursor)
    await reader.close()
    assert [v.value for v in page.verdicts] == ["203.0.113.5", "203.0.113.6", "evil-updates.example.net"]
    assert len(rest.verdicts) == 1 and rest.next_cursor is None
    assert rest.resume_after == NEWEST


async def test_a_later_sync_asks_only_for_what_was_added_since(tmp_path: Path, password: str) -> None:
    server = _medallion(tmp_path)
    try:
        feed = _feed(server)
        first = await _read_all(open_reader(feed, sync_id=uuid.uuid4().hex))
        resume_after = first[-1].resume_after
        assert resume_after == NEWEST

        new = _indicator(7, "[ipv4-addr:value = '192.0.2.77']", created="2024-02-01T00:00:00.000Z")
        new["modified"] = new["created"]
        collection = Collection(
            f"{server.url}/{API_ROOT}/collections/{COLLECTION_ID}/", user=TAXII_USER, password=TAXII_PASSWORD
        )
        status = collection.add_objects({"objects": [new]})
        collection.close()
        assert status.success_count == 1

        later = await _read_all(open_reader(feed, sync_id=uuid.uuid4().hex, resume_after=resume_after))
        assert [[v.value for v in page.verdicts] for page in later] == [["192.0.2.77"]]
        assert later[0].resume_after is not None and later[0].resume_after > NEWEST
        assert f"added_after={NEWEST}" in server.requests_log().replace("%3A", ":")
    finally:
        server.stop()


async def test_a_response_with_more_verdicts_than_a_page_is_served_in_slices(
    tmp_path: Path, password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each indicator ORs two addresses: a response of `page` objects holds twice as many verdicts.
    page = 50
    monkeypatch.setattr(taxii, "MAX_PAGE", page)
    pairs = [
        _indicator(100 + n, f"[ipv4-addr:value = '10.0.{n}.1'] OR [ipv4-addr:value = '10.0.{n}.2']") for n in range(60)
    ]
    added = [f"2024-01-10T00:{n // 60:02d}:{n % 60:02d}.000000Z" for n in range(60)]
    server = Medallion(tmp_path, list(zip(added, pairs, strict=True)), max_page_size=100).start()
    try:
        reader = open_reader(_feed(server), sync_id=uuid.uuid4().hex)
        first = await reader.read_page(None)
        taxii.RESPONSES.clear()  # a worker restart between slices: the same request is made again
        pages = [first, *await _read_all_from(reader, first.next_cursor)]
    finally:
        server.stop()
    assert [(len(p.verdicts), p.resume_after) for p in pages] == [(50, None), (50, added[49]), (20, added[59])]
    values = [v.value for p in pages for v in p.verdicts]
    assert sorted(values) == sorted(f"10.0.{n}.{host}" for n in range(60) for host in (1, 2))
    assert server.requests_log().count("/objects/?limit=50") == 3  # twice for the first response, once after


async def _read_all_from(reader: FeedReader, cursor: str | None) -> list[FeedPage]:
    pages = []
    while cursor is not None:
        pages.append(await reader.read_page(cursor))
        cursor = pages[-1].next_cursor
    await reader.close()
    return pages


async def test_wrong_credentials_are_rejected_without_showing_them(
    medallion: Medallion, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-" + "password-4d2a"
    monkeypatch.setenv(TOKEN_VARIABLE, wrong)
    for feed in (_feed(medallion), _feed(medallion, api_root=f"{medallion.url}/{API_ROOT}/")):
        reader = open_reader(feed, sync_id=uuid.uuid4().hex)
        with pytest.raises(FeedRejected) as caught:
            await reader.read_page(None)
        await reader.close()
        assert "answered 401 Unauthorized: check the feed's credentials" in str(caught.value)
        assert wrong not in str(caught.value)


async def test_a_server_that_went_away_is_worth_another_try(tmp_path: Path, password: str) -> None:
    server = _medallion(tmp_path)
    feed = _feed(server)
    sync_id = uuid.uuid4().hex
    try:
        reader = open_reader(feed, sync_id=sync_id)
        first = await reader.read_page(None)
        await reader.close()
    finally:
        server.stop()
    later_page = open_reader(feed, sync_id=sync_id)
    new_sync = open_reader(feed, sync_id=uuid.uuid4().hex)
    try:
        with pytest.raises(FeedUnavailable, match="cannot connect"):
            await later_page.read_page(first.next_cursor)  # the objects endpoint, known from the first page
        with pytest.raises(FeedUnavailable, match=f"GET {server.url}/taxii2/: cannot connect"):
            await new_sync.read_page(None)  # discovery, through taxii2-client
    finally:
        await later_page.close()
        await new_sync.close()
