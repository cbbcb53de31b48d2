"""Issue 10's first acceptance point on the real service: a STIX collection from a TAXII 2.1 server (medallion), a
MISP feed and a CSV list are synced by their Schedules' workflows; `xorb ti lookup` shows the combined verdict with
every source; a revoked and an expired indicator are no longer hits."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.infrastructure.feeds.servers import API_ROOT, COLLECTION_ID, TAXII_PASSWORD, TAXII_USER, Medallion
from tests.support.stack import API_KEY, RedisServer, make_settings, service
from xorb_orchestrator.cli.main import app

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

C2, REVOKED, EXPIRED, STALE = "198.51.100.7", "198.51.100.8", "198.51.100.9", "198.51.100.10"
PASSWORD_VARIABLE = "XORB_TEST_TAXII_PASSWORD"


def stix_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def indicator(n: int, address: str, **extra: Any) -> dict[str, Any]:
    recent = stix_time(datetime.now(UTC) - timedelta(days=1))
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=n)}",
        "created": recent,
        "modified": recent,
        "indicator_types": ["malicious-activity"],
        "pattern": f"[ipv4-addr:value = '{address}']",
        "pattern_type": "stix",
        "valid_from": recent,
        "confidence": 85,
        **extra,
    }


def misp_feed(folder: Path) -> Path:
    folder.mkdir()
    stamp = str(int(datetime.now(UTC).timestamp()) - 3600)
    event = str(uuid.uuid4())
    attribute = {"type": "ip-dst", "value": C2, "to_ids": True, "timestamp": stamp, "uuid": str(uuid.uuid4())}
    (folder / "manifest.json").write_text(json.dumps({event: {"info": "QakBot C2", "timestamp": stamp}}))
    body = {"uuid": event, "info": "QakBot C2", "timestamp": stamp, "threat_level_id": "1", "Attribute": [attribute]}
    (folder / f"{event}.json").write_text(json.dumps({"Event": body}))
    return folder


async def xorb(base_url: str, *args: str) -> str:
    connection = ["--api-url", base_url, "--api-key", API_KEY]
    result = await asyncio.to_thread(CliRunner().invoke, app, [*args, *connection])
    assert result.exit_code == 0, result.output
    return str(result.output)


async def test_three_kinds_of_feed_combine_and_dead_indicators_are_no_hits(
    temporal_address: str, redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    objects = [
        indicator(1, C2),
        indicator(2, REVOKED, revoked=True),
        indicator(
            3, EXPIRED, valid_until=stix_time(now - timedelta(hours=1)), valid_from=stix_time(now - timedelta(days=3))
        ),
    ]
    added = [stix_time(now - timedelta(minutes=10 - n)) for n in range(len(objects))]
    (tmp_path / "taxii").mkdir()
    taxii = Medallion(tmp_path / "taxii", list(zip(added, objects, strict=True)), max_page_size=2).start()
    monkeypatch.setenv(PASSWORD_VARIABLE, TAXII_PASSWORD)  # the worker resolves the reference when it syncs
    seen = (now - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    long_ago = (now - timedelta(days=400)).strftime("%Y-%m-%d %H:%M:%S")
    (tmp_path / "list.csv").write_text(f"ip,last_seen\n{C2},{seen}\n{STALE},{long_ago}\n")
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"""
feeds:
  - name: cti-taxii
    type: taxii
    url: {taxii.url}/taxii2/
    api_root: {taxii.url}/{API_ROOT}/
    collection: {COLLECTION_ID}
    auth: {{type: basic, username: {TAXII_USER}, token: "env:{PASSWORD_VARIABLE}"}}
  - name: misp-osint
    type: misp-feed
    url: {misp_feed(tmp_path / "misp")}
  - name: blocklist
    type: csv
    url: {tmp_path / "list.csv"}
    kind: ipv4
    columns: {{value: ip, last_seen: last_seen}}
    score: 80
"""
    )
    try:
        settings = make_settings(temporal_address, redis_server.url, XORB_TI_FEEDS_FILE=str(feeds))
        async with service(settings) as svc:
            synced = await xorb(svc.base_url, "ti", "sync")
            lookups = {
                v: json.loads(await xorb(svc.base_url, "ti", "lookup", v, "--json"))
                for v in (C2, REVOKED, EXPIRED, STALE)
            }
            listed = await xorb(svc.base_url, "ti", "feeds")
    finally:
        taxii.stop()

    assert synced.count("sync done") == 3, synced
    combined = lookups[C2]
    assert combined["hit"] is True
    assert sorted(f["verdict"]["source"] for f in combined["sources"]) == ["blocklist", "cti-taxii", "misp-osint"]
    assert all(f["live"] for f in combined["sources"])
    assert next(f for f in combined["sources"] if f["verdict"]["source"] == "cti-taxii")["verdict"]["confidence"] == 85
    assert (lookups[REVOKED]["hit"], lookups[REVOKED]["sources"][0]["why_not_live"]) == (False, "revoked")
    assert lookups[EXPIRED]["hit"] is False and "expired" in lookups[EXPIRED]["sources"][0]["why_not_live"]
    assert lookups[STALE]["hit"] is False and "expired" in lookups[STALE]["sources"][0]["why_not_live"]
    for name in ("cti-taxii", "misp-osint", "blocklist"):
        assert f"{name} " in listed and "failing" not in listed
