"""The indicator store against a real Redis: lookups, imports, full syncs and what a lookup costs."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection

from tests.support.stack import RedisServer
from xorb_orchestrator.infrastructure.indicator_store import (
    MAX_PAGE,
    IndicatorStore,
    IndicatorStoreUnavailable,
    SyncNotRunning,
)
from xorb_orchestrator.infrastructure.ports import free_port
from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict

pytestmark = pytest.mark.timeout(60)

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
DAYS = timedelta(days=1)
IP, IP6, DOMAIN, SHA256, URL, EMAIL = (
    IndicatorKind.IPV4,
    IndicatorKind.IPV6,
    IndicatorKind.DOMAIN,
    IndicatorKind.SHA256,
    IndicatorKind.URL,
    IndicatorKind.EMAIL,
)
HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def sv(source: str, kind: IndicatorKind, value: str, **fields: Any) -> SourceVerdict:
    fields.setdefault("last_seen", NOW - DAYS)
    return SourceVerdict.model_validate({"source": source, "kind": kind, "value": value, "score": 80, **fields})


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex[:8]}:ti:"


@pytest_asyncio.fixture
async def store(redis_server: RedisServer, prefix: str) -> AsyncIterator[IndicatorStore]:
    indicators = IndicatorStore(redis_server.url, prefix=prefix)
    yield indicators
    await indicators.close()


async def dump(url: str, prefix: str) -> dict[str, Any]:
    """Every key under the prefix with its content, to compare states."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        out: dict[str, Any] = {}
        async for key in client.scan_iter(match=prefix + "*"):
            out[key] = await (client.smembers(key) if await client.type(key) == "set" else client.hgetall(key))
        return out
    finally:
        await client.aclose()


async def import_all(store: IndicatorStore, source: str, verdicts: list[SourceVerdict], sync_id: str) -> None:
    await store.begin_sync(source, sync_id, now=NOW)
    await store.apply_page(source, verdicts, sync_id=sync_id)
    await store.finish_sync(source, sync_id, now=NOW)


async def test_a_batch_lookup_across_kinds_finds_an_address_inside_a_stored_network(
    store: IndicatorStore, redis_server: RedisServer, prefix: str
) -> None:
    await import_all(
        store,
        "abuse",
        [
            sv("abuse", IP, "203.0.113.0/24", score=90),
            sv("abuse", IP6, "2001:db8::/32"),
            sv("abuse", DOMAIN, "evil.example"),
            sv("abuse", SHA256, HASH.upper()),
            sv("abuse", URL, "http://evil.example/payload.bin"),
            sv("abuse", EMAIL, "phish@evil.example"),
        ],
        "s1",
    )
    verdicts = await store.lookup(
        [
            (IP, "203.0.113.77"),
            (IP, "198.51.100.1"),
            (IP6, "2001:db8::dead:beef"),
            (DOMAIN, "Evil.Example."),
            (DOMAIN, "cdn.evil.example"),  # a bad domain does not cover its subdomains
            (SHA256, HASH),
            (URL, "HTTP://EVIL.example/payload.bin"),
            (EMAIL, "Phish@evil.example"),
            (IP, "not an address"),
        ],
        NOW,
    )
    assert [v.hit for v in verdicts] == [True, False, True, True, False, True, True, True, False]
    assert verdicts[0].sources[0].matched == "203.0.113.0/24" and verdicts[0].score == 90
    assert verdicts[2].sources[0].matched == "2001:db8::/32"
    assert verdicts[3].value == "evil.example"
    assert verdicts[-1].value == "not an address" and verdicts[-1].sources == []
    assert set(state := await dump(redis_server.url, prefix)) >= {prefix + "nets:ipv4", prefix + "nets:ipv6"}
    assert prefix + "nets:url" not in state  # a URL's "/" is not a prefix length


async def test_expired_and_revoked_sources_are_no_longer_a_hit(store: IndicatorStore) -> None:
    await import_all(store, "stale", [sv("stale", IP, "192.0.2.1", last_seen=NOW - 31 * DAYS)], "s1")
    await import_all(store, "revoker", [sv("revoker", IP, "192.0.2.2", revoked=True)], "s1")
    stale, revoked = await store.lookup([(IP, "192.0.2.1"), (IP, "192.0.2.2")], NOW)
    assert not stale.hit and stale.sources[0].why_not_live == "expired at 2025-02-28T12:00:00+00:00"
    assert not revoked.hit and revoked.sources[0].why_not_live == "revoked"
    # Ask 30 days earlier and the stale one was a hit: expiry is decided at lookup time.
    [earlier] = await store.lookup([(IP, "192.0.2.1")], NOW - 30 * DAYS)
    assert earlier.hit


async def test_known_good_overrides_including_a_parent_domain(store: IndicatorStore) -> None:
    await import_all(
        store, "abuse", [sv("abuse", IP, "8.8.8.8", score=95), sv("abuse", DOMAIN, "www.example.com")], "s1"
    )
    good = [
        sv("known-good", IP, "8.8.8.0/24", score=0, known_good=True, last_seen=None),
        sv("known-good", DOMAIN, "example.com", score=0, known_good=True, last_seen=None),
    ]
    await import_all(store, "known-good", good, "s1")
    ip, domain = await store.lookup([(IP, "8.8.8.8"), (DOMAIN, "www.example.com")], NOW)
    assert (ip.hit, ip.known_good, domain.hit, domain.known_good) == (False, True, False, True)
    bad = next(f for f in domain.sources if f.verdict.source == "abuse")
    assert bad.why_not_live == "known-good: known-good lists example.com"


async def test_a_re_import_never_makes_an_indicator_younger(store: IndicatorStore) -> None:
    first = sv("abuse", IP, "192.0.2.9", first_seen=NOW - 20 * DAYS, last_seen=NOW - 2 * DAYS, tags=["c2"])
    await store.apply_page("abuse", [first], sync_id="s1")
    again = sv("abuse", IP, "192.0.2.9", first_seen=NOW - 5 * DAYS, last_seen=None, tags=["botnet"])
    result = await store.apply_page("abuse", [again], sync_id="s2")
    assert (result.added, result.updated) == (0, 1)
    [verdict] = await store.lookup([(IP, "192.0.2.9")], NOW)
    stored = verdict.sources[0].verdict
    assert (stored.first_seen, stored.last_seen, stored.tags) == (NOW - 20 * DAYS, NOW - 2 * DAYS, ["botnet", "c2"])


async def test_a_page_applied_twice_is_applied_once(
    store: IndicatorStore, redis_server: RedisServer, prefix: str
) -> None:
    page = [sv("abuse", IP, f"192.0.2.{i}") for i in range(10)] + [sv("abuse", IP, "198.51.100.0/24")]
    await store.begin_sync("abuse", "s1", now=NOW)
    first = await store.apply_page("abuse", page, sync_id="s1")
    after_once = await dump(redis_server.url, prefix)
    second = await store.apply_page("abuse", page, sync_id="s1")
    assert (first.added, first.updated, first.unchanged) == (11, 0, 0)
    assert (second.added, second.updated, second.unchanged) == (0, 0, 11)
    assert await dump(redis_server.url, prefix) == after_once
    status = await store.feed("abuse")
    assert (status.added, status.updated, status.entries) == (11, 0, 11)
    assert after_once[prefix + "nets:ipv4"] == {"24": "1"}


async def test_a_sync_that_stops_half_way_removes_nothing_and_the_next_one_sweeps(store: IndicatorStore) -> None:
    values = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "203.0.113.0/24"]
    await import_all(store, "abuse", [sv("abuse", IP, v) for v in values], "s1")

    async def interrupted_sync() -> None:
        await store.begin_sync("abuse", "s2", now=NOW)
        await store.apply_page("abuse", [sv("abuse", IP, "192.0.2.1")], sync_id="s2")
        raise RuntimeError("feed connection lost")

    with pytest.raises(RuntimeError):
        await interrupted_sync()
    await store.record_error("abuse", "feed connection lost", now=NOW)
    lookups = [(IP, "192.0.2.1"), (IP, "192.0.2.2"), (IP, "192.0.2.3"), (IP, "203.0.113.5")]
    assert [v.hit for v in await store.lookup(lookups, NOW)] == [True, True, True, True]
    status = await store.feed("abuse")
    assert (status.running_sync, status.last_sync, status.last_error) == ("s2", "s1", "feed connection lost")

    # The next full sync: the feed dropped 192.0.2.3 and the network.
    await store.begin_sync("abuse", "s3", now=NOW + DAYS)
    await store.apply_page("abuse", [sv("abuse", IP, "192.0.2.1")], sync_id="s3")
    await store.apply_page("abuse", [sv("abuse", IP, "192.0.2.2")], sync_id="s3")
    with pytest.raises(SyncNotRunning):
        await store.finish_sync("abuse", "s2")  # superseded: it must not sweep what s3 has seen
    status = await store.finish_sync("abuse", "s3", now=NOW + DAYS)
    assert (status.running_sync, status.last_sync, status.removed, status.entries) == (None, "s3", 2, 2)
    assert status.finished_at == NOW + DAYS
    assert [v.hit for v in await store.lookup(lookups, NOW)] == [True, True, False, False]
    assert sorted([v async for _, v in store.values_of("abuse")]) == ["192.0.2.1", "192.0.2.2"]
    assert await store.finish_sync("abuse", "s3") == status  # a retried finish changes nothing


async def test_a_sweep_leaves_other_sources_and_network_counts_right(
    store: IndicatorStore, redis_server: RedisServer, prefix: str
) -> None:
    await import_all(store, "a", [sv("a", IP, "203.0.113.0/24"), sv("a", IP, "192.0.2.1")], "s1")
    await import_all(store, "b", [sv("b", IP, "203.0.113.0/24")], "s1")
    await import_all(store, "a", [], "s2")
    state = await dump(redis_server.url, prefix)
    assert state[prefix + "nets:ipv4"] == {"24": "1"}
    assert set(state[prefix + "v:ipv4:203.0.113.0/24"]) == {"b"}
    assert prefix + "v:ipv4:192.0.2.1" not in state
    assert await store.remove_source("b") == 1
    left = {prefix + "feeds": {"a"}, prefix + "feed:a": state[prefix + "feed:a"]}
    assert await dump(redis_server.url, prefix) == left


async def test_finish_without_begin_is_refused(store: IndicatorStore) -> None:
    await store.apply_page("abuse", [sv("abuse", IP, "192.0.2.1")], sync_id="delta-1")
    with pytest.raises(SyncNotRunning):
        await store.finish_sync("abuse", "delta-1")
    assert [v.hit for v in await store.lookup([(IP, "192.0.2.1")], NOW)] == [True]


async def test_feeds_lists_every_feed_status(store: IndicatorStore) -> None:
    await import_all(store, "b-feed", [sv("b-feed", IP, "192.0.2.1")], "s1")
    await store.begin_sync("a-feed", "s1", now=NOW)
    feeds = await store.feeds()
    assert [(f.source, f.running_sync, f.last_sync, f.added, f.entries) for f in feeds] == [
        ("a-feed", "s1", None, 0, 0),
        ("b-feed", None, "s1", 1, 1),
    ]
    assert feeds[0].started_at == NOW


async def test_concurrent_pages_of_two_feeds_on_the_same_indicators_both_land(store: IndicatorStore) -> None:
    values = [f"192.0.2.{i}" for i in range(50)]
    await asyncio.gather(
        *(store.apply_page(name, [sv(name, IP, v) for v in values], sync_id="s1") for name in ("a", "b", "c"))
    )
    verdicts = await store.lookup([(IP, v) for v in values], NOW)
    assert all(sorted(f.verdict.source for f in v.sources) == ["a", "b", "c"] for v in verdicts)


async def test_pages_are_bounded_and_bad_values_are_refused_not_stored(store: IndicatorStore) -> None:
    with pytest.raises(ValueError, match="per page"):
        await store.apply_page("abuse", [sv("abuse", IP, "192.0.2.1")] * (MAX_PAGE + 1), sync_id="s1")
    with pytest.raises(ValueError, match="holds a verdict of"):
        await store.apply_page("abuse", [sv("other", IP, "192.0.2.1")], sync_id="s1")
    page = [sv("abuse", IP, "192.0.2.300"), sv("abuse", IP, "192.0.2.1")]
    result = await store.apply_page("abuse", page, sync_id="s1")
    assert (result.added, result.rejected) == (1, 1)
    assert result.rejected_reasons == ["'192.0.2.300' is not an ipv4 address or network"]


def count_round_trips(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count what goes over the wire: redis-py sends a whole pipeline (or one command) per send_packed_command."""
    sent = 0
    original = AbstractConnection.send_packed_command

    async def counting(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        nonlocal sent
        sent += 1
        await original(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return lambda: sent


async def test_a_lookup_of_twenty_values_is_one_round_trip(
    store: IndicatorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    networks = ["203.0.113.0/24", "198.51.100.0/25", "10.0.0.0/8", "2001:db8::/32", "2001:db8:1::/48"]
    await import_all(store, "abuse", [sv("abuse", IP6 if ":" in n else IP, n) for n in networks], "s1")
    observables = [(IP, f"203.0.113.{i}") for i in range(8)]
    observables += [(IP6, f"2001:db8:1::{i}") for i in range(4)]
    observables += [(DOMAIN, f"host{i}.evil.example") for i in range(4)]
    observables += [(SHA256, HASH), (URL, "http://evil.example/x"), (EMAIL, "a@evil.example"), (IP, "192.0.2.1")]
    assert len(observables) == 20
    await store.ping()  # connect first: the handshake is not the lookup's cost
    sent = count_round_trips(monkeypatch)

    cold = await store.lookup(observables, NOW)  # learns the prefix lengths present: one more, small round trip
    assert sent() == 2
    warm = await store.lookup(observables, NOW)
    assert sent() == 3
    assert warm == cold and sum(v.hit for v in warm) == 12

    # A network of a new prefix length: found by the very next lookup, at the price of one extra round trip.
    await store.apply_page("abuse", [sv("abuse", IP, "192.0.2.0/28")], sync_id="s1")
    before = sent()
    [verdict] = await store.lookup([(IP, "192.0.2.1")], NOW)
    assert verdict.hit and sent() - before == 2
    before = sent()
    await store.lookup(observables, NOW)
    assert sent() - before == 1


async def test_redis_down_is_a_clear_error(tmp_path: Any) -> None:
    store = IndicatorStore(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=1.0)
    try:
        with pytest.raises(IndicatorStoreUnavailable, match="unreachable"):
            await store.lookup([(IP, "192.0.2.1")], NOW)
        with pytest.raises(IndicatorStoreUnavailable):
            await store.apply_page("abuse", [sv("abuse", IP, "192.0.2.1")], sync_id="s1")
        with pytest.raises(IndicatorStoreUnavailable):
            await store.begin_sync("abuse", "s1")
        assert not await store.ping()
    finally:
        await store.close()


async def test_an_incremental_sync_keeps_what_it_did_not_see_and_where_to_resume(store: IndicatorStore) -> None:
    await import_all(store, "taxii", [sv("taxii", IP, "192.0.2.1")], "full")
    await store.begin_sync("taxii", "delta", now=NOW + DAYS)
    await store.apply_page("taxii", [sv("taxii", IP, "192.0.2.9")], sync_id="delta")
    status = await store.finish_sync("taxii", "delta", sweep=False, resume_after="2025-03-02T00:00:00.000Z")
    assert (status.last_sync, status.removed, status.entries) == ("delta", 0, 2)
    assert status.resume_after == "2025-03-02T00:00:00.000Z"
    assert [v.hit for v in await store.lookup([(IP, "192.0.2.1"), (IP, "192.0.2.9")], NOW)] == [True, True]
    # A later sync that says nothing of where to resume keeps the point.
    await import_all(store, "taxii", [sv("taxii", IP, "192.0.2.9")], "full-2")
    status = await store.feed("taxii")
    assert (status.resume_after, status.entries) == ("2025-03-02T00:00:00.000Z", 1)
