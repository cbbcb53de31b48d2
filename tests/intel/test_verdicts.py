"""Combining what the sources say, merging re-imports, and the canonical spellings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xorb_orchestrator.intel.decay import Decay
from xorb_orchestrator.intel.verdicts import canonical_value, combine, merge, parent_domains
from xorb_orchestrator.models.verdict import MAX_TAGS, IndicatorKind, SourceVerdict

NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)
DAYS = timedelta(days=1)
IP = IndicatorKind.IPV4
DOMAIN = IndicatorKind.DOMAIN


def sv(source: str = "abuse", kind: IndicatorKind = IP, value: str = "203.0.113.7", **fields: object) -> SourceVerdict:
    return SourceVerdict.model_validate({"source": source, "kind": kind, "value": value, "score": 80, **fields})


# -- combine


def test_a_live_bad_finding_is_a_hit_with_its_score_confidence_and_expiry() -> None:
    verdict = combine(IP, "203.0.113.7", [("203.0.113.7", sv(confidence=70, last_seen=NOW - 10 * DAYS))], NOW)
    assert (verdict.hit, verdict.known_good, verdict.score, verdict.confidence) == (True, False, 80, 70)
    assert verdict.expires_at == NOW + 20 * DAYS
    [finding] = verdict.sources
    assert (finding.live, finding.why_not_live, finding.age_days, finding.score_now) == (True, None, 10.0, 80)


def test_revoked_expired_and_not_yet_valid_findings_are_not_live_and_say_why() -> None:
    matches = [
        ("203.0.113.7", sv("revoker", revoked=True, last_seen=NOW)),
        ("203.0.113.7", sv("stale", last_seen=NOW - 31 * DAYS)),
        ("203.0.113.7", sv("early", valid_from=NOW + DAYS)),
    ]
    verdict = combine(IP, "203.0.113.7", matches, NOW)
    assert not verdict.hit and verdict.score == 0 and verdict.expires_at is None
    why = {f.verdict.source: f.why_not_live for f in verdict.sources}
    assert why == {
        "revoker": "revoked",
        "stale": "expired at 2025-02-28T12:00:00+00:00",
        "early": "not yet valid (from 2025-03-02T12:00:00+00:00)",
    }


def test_valid_until_given_by_the_source_wins_over_the_lifetime() -> None:
    long = sv(last_seen=NOW - 100 * DAYS, valid_until=NOW + DAYS)
    assert combine(IP, "203.0.113.7", [("203.0.113.7", long)], NOW).hit
    short = sv(last_seen=NOW, valid_until=NOW - DAYS)
    assert not combine(IP, "203.0.113.7", [("203.0.113.7", short)], NOW).hit


def test_a_known_good_list_overrides_every_bad_source_and_says_so() -> None:
    matches = [
        ("8.8.8.8", sv("abuse", value="8.8.8.8", score=95, last_seen=NOW)),
        ("8.8.8.8", sv("public-dns", value="8.8.8.8", score=0, known_good=True)),
    ]
    verdict = combine(IP, "8.8.8.8", matches, NOW)
    assert (verdict.hit, verdict.known_good, verdict.score, verdict.expires_at) == (False, True, 0, None)
    by_source = {f.verdict.source: f for f in verdict.sources}
    assert by_source["abuse"].why_not_live == "known-good: public-dns lists 8.8.8.8"
    assert by_source["abuse"].score_now == 95  # what the feed said stays visible
    assert by_source["public-dns"].live


def test_an_expired_known_good_entry_overrides_nothing() -> None:
    matches = [
        ("8.8.8.8", sv("abuse", value="8.8.8.8", last_seen=NOW)),
        ("8.8.8.8", sv("old-list", value="8.8.8.8", score=0, known_good=True, valid_until=NOW - DAYS)),
    ]
    verdict = combine(IP, "8.8.8.8", matches, NOW)
    assert verdict.hit and not verdict.known_good


def test_a_known_good_parent_domain_covers_subdomains_a_bad_one_does_not() -> None:
    value = "www.example.com"
    top = sv("top", DOMAIN, "example.com", score=0, known_good=True)
    vouched = combine(DOMAIN, value, [(value, sv(kind=DOMAIN, value=value)), ("example.com", top)], NOW)
    assert not vouched.hit and vouched.known_good
    assert vouched.sources[-1].why_not_live == "known-good: top lists example.com"
    parent_bad = combine(DOMAIN, "cdn.evil.example", [("evil.example", sv(kind=DOMAIN, value="evil.example"))], NOW)
    assert not parent_bad.hit and parent_bad.sources == []


def test_a_bad_network_covers_the_address_inside_it() -> None:
    verdict = combine(IP, "203.0.113.7", [("203.0.113.0/24", sv(value="203.0.113.0/24", last_seen=NOW))], NOW)
    assert verdict.hit and verdict.sources[0].matched == "203.0.113.0/24"


def test_decay_can_take_a_finding_below_the_hit_threshold() -> None:
    seen = [("203.0.113.7", sv(last_seen=NOW - 15 * DAYS))]
    assert combine(IP, "203.0.113.7", seen, NOW).score == 80
    decayed = combine(IP, "203.0.113.7", seen, NOW, decay=Decay(2.0))
    assert (decayed.hit, decayed.score, decayed.sources[0].live) == (False, 23, True)  # 80 * (1 - 0.5 ** 0.5)
    assert combine(IP, "203.0.113.7", seen, NOW, decay=Decay(2.0), hit_threshold=20).hit


def test_the_best_live_finding_gives_score_and_confidence_and_the_latest_hit_gives_expiry() -> None:
    matches = [
        ("203.0.113.7", sv("a", score=60, confidence=90, last_seen=NOW - 5 * DAYS)),
        ("203.0.113.7", sv("b", score=85, confidence=40, last_seen=NOW - 20 * DAYS)),
        ("203.0.113.7", sv("c", score=30, last_seen=NOW)),  # below the threshold: does not extend the hit
    ]
    verdict = combine(IP, "203.0.113.7", matches, NOW)
    assert (verdict.score, verdict.confidence) == (85, 40)
    assert verdict.expires_at == NOW + 25 * DAYS  # a's expiry (5 days ago + 30), later than b's
    assert [f.verdict.source for f in verdict.sources] == ["b", "a", "c"]


def test_with_decay_the_verdict_expires_when_the_score_falls_below_the_threshold() -> None:
    verdict = combine(IP, "203.0.113.7", [("203.0.113.7", sv(last_seen=NOW))], NOW, decay=Decay(1.0))
    assert verdict.expires_at == NOW + 11.25 * DAYS  # 30 * (1 - 50/80)


def test_a_hit_without_any_date_has_no_known_end() -> None:
    verdict = combine(IP, "203.0.113.7", [("203.0.113.7", sv())], NOW)
    assert verdict.hit and verdict.expires_at is None


def test_no_sources_no_hit() -> None:
    verdict = combine(IP, "203.0.113.7", [], NOW)
    assert (verdict.hit, verdict.score, verdict.sources) == (False, 0, [])


def test_the_hit_threshold_is_a_score() -> None:
    for threshold in (0, 101):
        with pytest.raises(ValueError, match="hit threshold"):
            combine(IP, "203.0.113.7", [], NOW, hit_threshold=threshold)


# -- merge


def test_a_first_import_is_stored_as_given() -> None:
    new = sv(first_seen=NOW, tags=["c2"])
    assert merge(None, new) == new


def test_a_re_import_never_makes_an_indicator_younger() -> None:
    old = sv(first_seen=NOW - 30 * DAYS, last_seen=NOW - 2 * DAYS)
    merged = merge(old, sv(first_seen=NOW - 10 * DAYS, last_seen=None))
    assert (merged.first_seen, merged.last_seen) == (NOW - 30 * DAYS, NOW - 2 * DAYS)
    older = merge(old, sv(first_seen=NOW - 40 * DAYS, last_seen=NOW - 5 * DAYS))
    assert (older.first_seen, older.last_seen) == (NOW - 40 * DAYS, NOW - 2 * DAYS)
    newer = merge(old, sv(last_seen=NOW))
    assert newer.last_seen == NOW  # a new sighting by the source does make it younger


def test_validity_score_and_the_rest_are_as_the_source_says_now() -> None:
    old = sv(score=90, valid_until=NOW + 10 * DAYS, confidence=80, reference="x")
    merged = merge(old, sv(score=40, valid_until=None, confidence=20, reference="x"))
    assert (merged.score, merged.valid_until, merged.confidence) == (40, None, 20)


def test_revocation_stays_for_the_same_object_only() -> None:
    revoked = sv(revoked=True, reference="indicator--1")
    assert merge(revoked, sv(reference="indicator--1")).revoked  # an older version replayed: still revoked
    assert not merge(revoked, sv(reference="indicator--2")).revoked  # the source re-issued it
    assert not merge(sv(revoked=True), sv()).revoked  # no reference: as the source says now


def test_tags_are_merged_new_first_and_bounded() -> None:
    old = sv(tags=[f"old-{i}" for i in range(MAX_TAGS)])
    merged = merge(old, sv(tags=["emotet", "old-0", "x" * 300]))
    assert len(merged.tags) == MAX_TAGS
    assert merged.tags[:4] == ["emotet", "old-0", "x" * 100, "old-1"]


def test_merge_is_idempotent() -> None:
    old = sv(first_seen=NOW - 9 * DAYS, last_seen=NOW - DAYS, tags=["a"], revoked=True, reference="r")
    new = sv(first_seen=NOW - 3 * DAYS, last_seen=NOW - 4 * DAYS, tags=["b"], reference="r")
    once = merge(old, new)
    assert merge(once, new) == once


def test_merge_refuses_verdicts_of_another_source_or_value() -> None:
    with pytest.raises(ValueError, match="same source"):
        merge(sv("a"), sv("b"))
    with pytest.raises(ValueError, match="same source"):
        merge(sv(value="203.0.113.7"), sv(value="203.0.113.8"))


# -- canonical values


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (IP, " 203.0.113.7 ", "203.0.113.7"),
        (IP, "203.0.113.7/24", "203.0.113.0/24"),
        (IP, "203.0.113.7/32", "203.0.113.7"),
        (IndicatorKind.IPV6, "2001:DB8:0:0::1", "2001:db8::1"),
        (IndicatorKind.IPV6, "2001:db8::/32", "2001:db8::/32"),
        (DOMAIN, "WWW.Example.COM.", "www.example.com"),
        (DOMAIN, "bücher.example", "xn--bcher-kva.example"),
        (IndicatorKind.URL, "HTTP://Evil.Example:8080/Path?Q=1", "http://evil.example:8080/Path?Q=1"),
        (IndicatorKind.SHA256, "AB" * 32, "ab" * 32),
        (IndicatorKind.MD5, "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"),
        (IndicatorKind.EMAIL, "Phish@Evil.Example", "phish@evil.example"),
    ],
)
def test_canonical_spellings(kind: IndicatorKind, value: str, expected: str) -> None:
    assert canonical_value(kind, value) == expected


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (IP, "2001:db8::1"),
        (IP, "203.0.113.300"),
        (IndicatorKind.SHA1, "ab" * 32),
        (IndicatorKind.MD5, "z" * 32),
        (DOMAIN, "a..example"),
        (DOMAIN, "evil.example/path"),
        (IndicatorKind.EMAIL, "no-at-sign"),
        (IndicatorKind.URL, "http://x/" + "a" * 2048),
        (IndicatorKind.URL, ""),
    ],
)
def test_values_not_of_their_kind_are_refused(kind: IndicatorKind, value: str) -> None:
    with pytest.raises(ValueError):
        canonical_value(kind, value)


def test_parent_domains_nearest_first() -> None:
    assert parent_domains("a.b.example.com") == ["b.example.com", "example.com", "com"]
    assert parent_domains("com") == []
