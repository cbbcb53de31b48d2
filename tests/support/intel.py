"""Threat intelligence for tests: a feeds file naming one local CSV feed that lists the given values as bad (seen an
hour ago), synced by the service like any feed. `sync_feed` waits for its sync (joining the one a starting worker
began)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

TEST_FEED = "test-feed"


def feeds_file(directory: Path, *values: str, score: int = 90, confidence: int = 90) -> Path:
    """A feeds file with one CSV feed (a local file) listing `values` at `score` and `confidence`."""
    seen = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    listing = directory / "test-feed.csv"
    listing.write_text("value,last_seen\n" + "".join(f"{value},{seen}\n" for value in values))
    path = directory / "feeds.yaml"
    path.write_text(
        f"feeds:\n  - name: {TEST_FEED}\n    type: csv\n    url: {listing}\n"
        f"    columns: {{value: value, last_seen: last_seen}}\n    score: {score}\n    confidence: {confidence}\n"
    )
    return path


async def sync_feed(http: httpx.AsyncClient, feed: str = TEST_FEED) -> None:
    response = await http.post(f"/v1/ti/feeds/{feed}/sync", params={"wait": 60}, timeout=90)
    assert response.status_code == 200, response.text
