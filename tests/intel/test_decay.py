"""Lifetimes and MISP's polynomial decay, with numbers worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xorb_orchestrator.intel.decay import (
    DEFAULT_LIFETIMES,
    Decay,
    age_days,
    bad_until,
    decayed_score,
    expires_at,
    lifetime_of,
    score_now,
    with_feed_lifetimes,
)
from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
DAYS = timedelta(days=1)


def verdict(kind: IndicatorKind = IndicatorKind.IPV4, value: str = "203.0.113.7", **fields: object) -> SourceVerdict:
    return SourceVerdict.model_validate({"source": "feed", "kind": kind, "value": value, "score": 80, **fields})


def test_default_lifetimes_per_kind() -> None:
    assert {kind: lifetime.days for kind, lifetime in DEFAULT_LIFETIMES.items()} == {
        IndicatorKind.IPV4: 30,
        IndicatorKind.IPV6: 30,
        IndicatorKind.DOMAIN: 90,
        IndicatorKind.URL: 60,
        IndicatorKind.MD5: 365,
        IndicatorKind.SHA1: 365,
        IndicatorKind.SHA256: 365,
        IndicatorKind.EMAIL: 90,
    }


def test_an_override_replaces_only_the_kinds_it_names() -> None:
    override = {IndicatorKind.IPV4: 7 * DAYS}
    assert lifetime_of(IndicatorKind.IPV4, override) == 7 * DAYS
    assert lifetime_of(IndicatorKind.DOMAIN, override) == 90 * DAYS


@pytest.mark.parametrize(
    ("days", "speed", "expected"),
    [
        (0, 2.0, 80),
        (15, 1.0, 40),  # 80 * (1 - 0.5)
        (15, 2.0, 23),  # 80 * (1 - 0.5 ** 0.5) = 23.43
        (15, 0.5, 60),  # 80 * (1 - 0.5 ** 2)
        (3, 1.0, 72),  # 80 * (1 - 0.1)
        (29, 2.0, 1),  # 80 * (1 - (29/30) ** 0.5) = 1.34
        (30, 2.0, 0),  # t = tau: MISP's formula gives 0
        (45, 0.5, 0),  # t > tau: negative, floored at 0 as MISP does
    ],
)
def test_misp_polynomial_decay(days: int, speed: float, expected: int) -> None:
    assert decayed_score(80, days * DAYS, 30 * DAYS, Decay(speed)) == expected


def test_rounding_down_does_not_lose_a_whole_point_to_floating_point() -> None:
    # 30 * (1 - 0.9) is 2.9999999999999996 in floating point; the score is 3.
    assert decayed_score(30, 27 * DAYS, 30 * DAYS, Decay(1.0)) == 3


def test_a_decay_speed_must_be_positive() -> None:
    for speed in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="decay speed"):
            Decay(speed)


def test_score_now_decays_from_last_seen_and_only_when_decay_is_on() -> None:
    seen = verdict(first_seen=NOW - 100 * DAYS, last_seen=NOW - 15 * DAYS)
    assert score_now(seen, NOW, decay=Decay(2.0)) == 23
    assert score_now(seen, NOW) == 80  # decay off: unchanged until expiry
    assert score_now(verdict(first_seen=NOW - 15 * DAYS), NOW, decay=Decay(1.0)) == 40  # first seen when no last
    assert score_now(verdict(), NOW, decay=Decay(1.0)) == 80  # no dates: no age to decay by


def test_a_sighting_in_the_future_counts_as_age_zero() -> None:
    ahead = verdict(last_seen=NOW + timedelta(minutes=5))
    assert age_days(ahead, NOW) == 0
    assert score_now(ahead, NOW, decay=Decay(2.0)) == 80


def test_expiry_is_valid_until_else_seen_plus_lifetime() -> None:
    until = NOW + 3 * DAYS
    assert expires_at(verdict(last_seen=NOW, valid_until=until)) == until
    assert expires_at(verdict(first_seen=NOW - 5 * DAYS, last_seen=NOW - 2 * DAYS)) == NOW + 28 * DAYS
    assert expires_at(verdict(first_seen=NOW - 5 * DAYS)) == NOW + 25 * DAYS
    assert expires_at(verdict(IndicatorKind.SHA256, "a" * 64, last_seen=NOW)) == NOW + 365 * DAYS
    assert expires_at(verdict(last_seen=NOW), {IndicatorKind.IPV4: 7 * DAYS}) == NOW + 7 * DAYS
    assert expires_at(verdict()) is None  # the feed gives no date: it holds while the feed lists it


def test_a_known_good_entry_has_no_lifetime_only_its_valid_until() -> None:
    assert expires_at(verdict(score=0, known_good=True, last_seen=NOW - 400 * DAYS)) is None
    assert expires_at(verdict(score=0, known_good=True, valid_until=NOW + DAYS)) == NOW + DAYS


def test_age_in_days() -> None:
    assert age_days(verdict(last_seen=NOW - timedelta(hours=36)), NOW) == 1.5
    assert age_days(verdict(), NOW) is None


def test_bad_until_is_when_decay_takes_the_score_below_the_threshold() -> None:
    seen = verdict(last_seen=NOW)
    # tau * (1 - 50/80) ** delta: 30 * 0.375 ** 2 = 4.21875 days; 30 * 0.375 = 11.25 days
    assert bad_until(seen, 50, decay=Decay(2.0)) == NOW + 4.21875 * DAYS
    assert bad_until(seen, 50, decay=Decay(1.0)) == NOW + 11.25 * DAYS
    assert score_now(seen, NOW + 4 * DAYS, decay=Decay(2.0)) == 50
    assert score_now(seen, NOW + 4.3 * DAYS, decay=Decay(2.0)) == 49
    assert bad_until(seen, 50) == NOW + 30 * DAYS  # decay off: its expiry
    assert bad_until(verdict(last_seen=NOW, valid_until=NOW + DAYS), 50, decay=Decay(1.0)) == NOW + DAYS
    assert bad_until(verdict(), 50, decay=Decay(1.0)) is None


def test_a_feeds_own_lifetime_ends_its_entries_where_the_source_gives_no_end() -> None:
    seen = datetime(2025, 3, 1, tzinfo=UTC)
    base = SourceVerdict(source="f", kind=IndicatorKind.IPV4, value="192.0.2.1", score=80, last_seen=seen)
    week = {IndicatorKind.IPV4: timedelta(days=7)}
    assert with_feed_lifetimes(base, week).valid_until == seen + timedelta(days=7)
    given = base.model_copy(update={"valid_until": seen + timedelta(days=1)})
    assert with_feed_lifetimes(given, week) == given  # the source's own end stands
    assert with_feed_lifetimes(base, {IndicatorKind.DOMAIN: timedelta(days=1)}) == base  # not its kind
    undated = base.model_copy(update={"last_seen": None})
    assert with_feed_lifetimes(undated, week) == undated
