"""Threat intelligence for people: what each feed holds and when it last synced, and what is known of a value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from pydantic import BaseModel

from xorb_orchestrator.infrastructure.indicator_store import FeedStatus, IndicatorStore
from xorb_orchestrator.intel.feeds_config import FeedConfig, FeedsConfig
from xorb_orchestrator.intel.values import canonical, guess
from xorb_orchestrator.models.verdict import IndicatorKind, Verdict


class FeedView(BaseModel):
    """A configured feed and its sync state, for `xorb ti feeds` and GET /v1/ti/feeds."""

    name: str
    type: str
    location: str  # scheme://host/path or the file path: never a query string (it may carry a key)
    interval_seconds: float
    status: FeedStatus
    state: str  # never synced | syncing | ok | late | failing
    last_success_age_seconds: float | None = None


def describe_location(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        return url
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _state(feed: FeedConfig, status: FeedStatus, now: datetime) -> tuple[str, float | None]:
    age = (now - status.finished_at).total_seconds() if status.finished_at else None
    failing = status.last_error_at is not None and (
        status.finished_at is None or status.last_error_at > status.finished_at
    )
    if failing:
        return "failing", age
    if status.running_sync:
        return "syncing", age
    if age is None:
        return "never synced", None
    # Two intervals without a completed sync: the schedule or the feed is not keeping up.
    return ("late" if age > 2 * feed.interval.total_seconds() + 60 else "ok"), age


async def feed_views(store: IndicatorStore, feeds: FeedsConfig, now: datetime | None = None) -> list[FeedView]:
    now = now or datetime.now(UTC)
    statuses = {status.source: status for status in await store.feeds()}
    views = []
    for feed in feeds.feeds:
        status = statuses.get(feed.name) or await store.feed(feed.name)
        state, age = _state(feed, status, now)
        views.append(
            FeedView(
                name=feed.name,
                type=feed.type.value,
                location=describe_location(feed.url),
                interval_seconds=feed.interval.total_seconds(),
                status=status,
                state=state,
                last_success_age_seconds=age,
            )
        )
    return views


def parse_value(value: str, kind: str | None) -> tuple[IndicatorKind, str]:
    """The kind (given, or guessed from the value) and canonical value; ValueError naming what is wrong."""
    if kind is None:
        return guess(value)
    try:
        declared = IndicatorKind(kind.lower())
    except ValueError:
        kinds = ", ".join(k.value for k in IndicatorKind)
        raise ValueError(f"type: expected one of {kinds}, got {kind[:40]!r}") from None
    return canonical(declared, value)


async def lookup(
    store: IndicatorStore, feeds: FeedsConfig, values: list[tuple[IndicatorKind, str]], now: datetime | None = None
) -> list[Verdict]:
    """The combined verdict of each value, every source's finding in it (one round trip)."""
    lifetimes: dict[IndicatorKind, timedelta] = dict(feeds.lifetimes)
    return await store.lookup(values, now or datetime.now(UTC), lifetimes=lifetimes)
