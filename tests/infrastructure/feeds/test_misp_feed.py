"""A MISP feed directory over HTTP and on disk: the manifest once per sync, events page by page, a large event
continued on the next page, and an event the manifest lists but the feed lacks skipped with a reason."""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.feeds.servers import FeedServer
from tests.support.paths import DATA
from xorb_orchestrator.infrastructure.feeds import open_reader
from xorb_orchestrator.infrastructure.feeds.base import MAX_PAGE, FeedPage, FeedReader, FeedRejected
from xorb_orchestrator.intel.batch import FeedDefaults
from xorb_orchestrator.intel.feeds_config import FeedConfig
from xorb_orchestrator.intel.misp import event_file, parse_misp_event
from xorb_orchestrator.models.verdict import Tlp

PHISHING = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
ROYAL = "5f3c2a1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b"
SCANNERS = "c0ffee00-1d2e-4f3a-8b4c-5d6e7f8a9b0c"  # 1,500 addresses: more than one page holds
WITHDRAWN = "dead0000-aaaa-4bbb-8ccc-dddddddddddd"  # in the manifest, but its file is gone
SCANNER_COUNT = 1500


def _scanner_event() -> dict[str, Any]:
    attributes = [
        {
            "category": "Network activity",
            "comment": "mass scanning, port 22",
            "deleted": False,
            "disable_correlation": False,
            "timestamp": "1700000000",
            "to_ids": True,
            "type": "ip-src",
            "uuid": str(uuid.UUID(int=n)),
            "value": f"198.18.{n // 250}.{n % 250 + 1}",
        }
        for n in range(SCANNER_COUNT)
    ]
    return {
        "Event": {
            "analysis": "2",
            "date": "2023-11-14",
            "info": "SSH scanners seen by the honeypot network",
            "published": True,
            "threat_level_id": "2",
            "timestamp": "1700000000",
            "uuid": SCANNERS,
            "Orgc": {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"},
            "Tag": [{"colour": "#33FF00", "local": False, "name": "tlp:green", "relationship_type": ""}],
            "Attribute": attributes,
        }
    }


@pytest.fixture
def feed_dir(tmp_path: Path) -> Path:
    """The CIRCL-style test feed (two events), one large event, and a manifest entry without its file."""
    folder = tmp_path / "circl-osint"
    shutil.copytree(DATA / "intel" / "misp-feed", folder)
    (folder / event_file(SCANNERS)).write_text(json.dumps(_scanner_event()))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest[SCANNERS] = {"info": "SSH scanners seen by the honeypot network", "timestamp": "1700000000"}
    manifest[WITHDRAWN] = {"info": "withdrawn", "timestamp": "1700000500"}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _serve(server: FeedServer, folder: Path) -> str:
    for file in folder.iterdir():
        server.document(f"/feeds/circl/{file.name}", file.read_bytes())
    return f"{server.url}/feeds/circl/"


def _expected(folder: Path) -> dict[tuple[str, str], Any]:
    """What the pure parser makes of every event file: the reader must give exactly this, each once."""
    verdicts = {}
    for name in (PHISHING, ROYAL, SCANNERS):
        document = json.loads((folder / event_file(name)).read_text())
        for verdict in parse_misp_event(document, defaults=FeedDefaults("circl-osint")).verdicts:
            verdicts[(verdict.kind.value, verdict.value)] = verdict
    return verdicts


async def _read_all(reader: FeedReader) -> list[FeedPage]:
    pages = [await reader.read_page(None)]
    while pages[-1].next_cursor is not None:
        pages.append(await reader.read_page(pages[-1].next_cursor))
    await reader.close()
    return pages


def _check_pages(pages: list[FeedPage], folder: Path) -> None:
    first_page_events = 3 + 8  # the phishing event's verdicts, then the Royal event's
    continued = MAX_PAGE - first_page_events
    assert [(len(page.verdicts), page.next_cursor) for page in pages] == [
        (MAX_PAGE, f"2:{continued}"),
        (SCANNER_COUNT - continued, None),
    ]
    read = [(v.kind.value, v.value) for page in pages for v in page.verdicts]
    assert len(read) == len(set(read))
    assert dict(zip(read, [v for page in pages for v in page.verdicts], strict=True)) == _expected(folder)
    assert pages[0].skipped == 5  # 3 in the Royal event, 2 in the phishing one
    assert pages[1].skipped == 1
    assert pages[1].reasons == [f"event {WITHDRAWN}: listed in the manifest but not served by the feed"]
    scanner = next(v for v in pages[1].verdicts if v.value == "198.18.5.250")
    assert (scanner.score, scanner.tlp) == (50, Tlp.GREEN)


async def test_a_feed_over_http_reads_the_manifest_once_and_continues_a_large_event(
    feed_server: FeedServer, feed_dir: Path
) -> None:
    feed = FeedConfig.model_validate({"name": "circl-osint", "type": "misp-feed", "url": _serve(feed_server, feed_dir)})
    pages = await _read_all(open_reader(feed, sync_id=uuid.uuid4().hex))
    _check_pages(pages, feed_dir)
    files = ("manifest.json", event_file(ROYAL), event_file(SCANNERS))
    downloads = {name: len(feed_server.requests_for(f"/feeds/circl/{name}")) for name in files}
    assert downloads == {"manifest.json": 1, event_file(ROYAL): 1, event_file(SCANNERS): 2}


async def test_a_feed_in_a_local_directory_reads_the_same(feed_dir: Path) -> None:
    feed = FeedConfig.model_validate({"name": "circl-osint", "type": "misp-feed", "url": str(feed_dir)})
    _check_pages(await _read_all(open_reader(feed, sync_id=uuid.uuid4().hex)), feed_dir)


async def test_a_page_stops_after_fifty_events(tmp_path: Path) -> None:
    manifest = {}
    for n in range(60):
        event_id = str(uuid.UUID(int=n + 1))
        manifest[event_id] = {"info": f"event {n}", "timestamp": str(1700000000 + n)}
        attribute = {"type": "domain", "value": f"c2-{n}.example.net", "uuid": str(uuid.UUID(int=1000 + n))}
        (tmp_path / event_file(event_id)).write_text(
            json.dumps({"Event": {"uuid": event_id, "Attribute": [attribute]}})
        )
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    feed = FeedConfig.model_validate({"name": "many", "type": "misp-feed", "url": str(tmp_path)})
    pages = await _read_all(open_reader(feed, sync_id=uuid.uuid4().hex))
    assert [(len(page.verdicts), page.next_cursor) for page in pages] == [(50, "50"), (10, None)]


async def test_a_missing_manifest_rejects_the_feed(feed_server: FeedServer) -> None:
    feed = FeedConfig.model_validate({"name": "nothing", "type": "misp-feed", "url": f"{feed_server.url}/feeds/none"})
    reader = open_reader(feed, sync_id="s1")
    with pytest.raises(FeedRejected, match=f"GET {feed_server.url}/feeds/none/manifest.json answered 404"):
        await reader.read_page(None)
    await reader.close()
