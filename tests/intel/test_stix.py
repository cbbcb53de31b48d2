"""STIX 2.1 bundles and TAXII envelopes to SourceVerdicts: patterns, markings, scores, times, families."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from xorb_orchestrator.intel.batch import FeedDefaults, FeedFormatError
from xorb_orchestrator.intel.stix import parse_stix, stix_objects
from xorb_orchestrator.intel.stix_patterns import PatternError, pattern_values
from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict, Tlp

DATA = Path(__file__).parent.parent / "data" / "intel"
DEFAULTS = FeedDefaults(source="cisa-aa23")


def _bundle() -> dict[str, Any]:
    return json.loads((DATA / "stix-advisory-bundle.json").read_text())


def _by_value(verdicts: list[SourceVerdict]) -> dict[str, SourceVerdict]:
    return {verdict.value: verdict for verdict in verdicts}


def _indicator(pattern: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--00000000-0000-4000-8000-000000000001",
        "created": "2024-01-01T00:00:00.000Z",
        "modified": "2024-01-02T00:00:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-01-01T00:00:00Z",
        **extra,
    }


def test_the_advisory_bundle_gives_one_verdict_per_usable_value() -> None:
    parsed = parse_stix(_bundle(), defaults=DEFAULTS)
    assert [(v.kind, v.value) for v in parsed.verdicts] == [
        (IndicatorKind.IPV4, "198.51.100.23"),
        (IndicatorKind.SHA256, "f484f919ba6e3e2f5e0b1c1a3a8e4d0b6c2d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"),
        (IndicatorKind.MD5, "afb5d1e6f8be2b4c8a0e6d8f7c5b3a19"),
        (IndicatorKind.SHA1, "3b6a5c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b"),
        (IndicatorKind.IPV4, "203.0.113.0/24"),
        (IndicatorKind.IPV6, "2001:db8::7"),
        (IndicatorKind.DOMAIN, "update-check.example.net"),
        (IndicatorKind.EMAIL, "billing@invoices-portal.example"),
        (IndicatorKind.URL, "https://invoices-portal.example/Login?id=7"),
        (IndicatorKind.IPV4, "192.0.2.45"),
        (IndicatorKind.DOMAIN, "updates.remote-admin.example.com"),
        (IndicatorKind.URL, "https://files.exfil.example/upload"),
    ]
    assert parsed.skipped == 3
    assert parsed.skipped_by == {"unsupported pattern": 3}
    assert parsed.reasons == [
        "indicator--8e7f6a5b-4c3d-4e2f-9a0b-1c2d3e4f5a6b: comparisons joined by AND need several facts at once",
        "indicator--9f8a7b6c-5d4e-4f3a-8b1c-2d3e4f5a6b7c: pattern_type 'yara' is not stix",
        "indicator--a09b8c7d-6e5f-4a4b-9c2d-3e4f5a6b7c8d: a REPEATS qualifier describes behaviour, not one value",
    ]


def test_an_indicator_keeps_its_times_confidence_marking_family_and_id() -> None:
    c2 = _by_value(parse_stix(_bundle(), defaults=DEFAULTS).verdicts)["198.51.100.23"]
    assert c2 == SourceVerdict(
        source="cisa-aa23",
        kind=IndicatorKind.IPV4,
        value="198.51.100.23",
        score=80,
        confidence=85,
        tlp=Tlp.CLEAR,
        tags=["Royal", "malicious-activity"],
        first_seen=datetime(2023, 2, 1, 14, tzinfo=UTC),
        last_seen=datetime(2023, 3, 2, 9, 30, tzinfo=UTC),
        valid_from=datetime(2023, 2, 1, 14, tzinfo=UTC),
        valid_until=datetime(2023, 8, 1, tzinfo=UTC),
        reference="indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    )


def test_scores_come_from_x_scores_else_from_indicator_types() -> None:
    verdicts = _by_value(parse_stix(_bundle(), defaults=DEFAULTS).verdicts)
    assert verdicts["203.0.113.0/24"].score == 95  # x_opencti_score
    assert verdicts["afb5d1e6f8be2b4c8a0e6d8f7c5b3a19"].score == 80  # malicious-activity, attribution
    assert verdicts["billing@invoices-portal.example"].score == 50  # anomalous-activity
    benign = verdicts["updates.remote-admin.example.com"]
    assert (benign.score, benign.known_good) == (0, True)
    assert not verdicts["203.0.113.0/24"].known_good


def test_an_indicator_with_no_scoring_type_takes_the_feed_default() -> None:
    parsed = parse_stix([_indicator("[ipv4-addr:value = '192.0.2.1']")], defaults=FeedDefaults("f", score=65))
    assert parsed.verdicts[0].score == 65
    assert parsed.verdicts[0].confidence == 50


def test_an_explicit_score_out_of_range_skips_the_indicator() -> None:
    parsed = parse_stix([_indicator("[ipv4-addr:value = '192.0.2.1']", x_score=150)], defaults=DEFAULTS)
    assert parsed.verdicts == []
    assert parsed.reasons == [
        "indicator--00000000-0000-4000-8000-000000000001: x_score must be a number from 0 to 100, got '150'"
    ]


def test_markings_tlp1_tlp2_bundle_defined_and_the_strictest_wins() -> None:
    verdicts = _by_value(parse_stix(_bundle(), defaults=DEFAULTS).verdicts)
    assert (
        verdicts["f484f919ba6e3e2f5e0b1c1a3a8e4d0b6c2d7e8f9a0b1c2d3e4f5a6b7c8d9e0f"].tlp is Tlp.CLEAR
    )  # + a statement
    assert verdicts["203.0.113.0/24"].tlp is Tlp.AMBER_STRICT  # defined in the bundle by the TLP 2.0 extension
    assert verdicts["billing@invoices-portal.example"].tlp is Tlp.AMBER  # the STIX 2.1 TLP 1.0 amber id
    assert verdicts["192.0.2.45"].tlp is None

    red_and_green = [
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    ]
    indicator = _indicator("[ipv4-addr:value = '192.0.2.1']", object_marking_refs=red_and_green)
    assert parse_stix([indicator], defaults=DEFAULTS).verdicts[0].tlp is Tlp.RED


def test_a_tlp1_definition_in_the_bundle_and_the_feed_default() -> None:
    marking = {
        "type": "marking-definition",
        "id": "marking-definition--11111111-2222-4333-8444-555555555555",
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "definition": {"tlp": "white"},
    }
    marked = _indicator("[ipv4-addr:value = '192.0.2.1']", object_marking_refs=[marking["id"]])
    unmarked = _indicator("[ipv4-addr:value = '192.0.2.2']", id="indicator--00000000-0000-4000-8000-000000000002")
    parsed = parse_stix([marking, marked, unmarked], defaults=FeedDefaults("f", tlp=Tlp.GREEN))
    assert [(v.value, v.tlp) for v in parsed.verdicts] == [("192.0.2.1", Tlp.CLEAR), ("192.0.2.2", Tlp.GREEN)]


def test_revoked_and_not_yet_valid_indicators_are_kept_for_the_lookup_to_judge() -> None:
    verdicts = _by_value(parse_stix(_bundle(), defaults=DEFAULTS).verdicts)
    assert verdicts["192.0.2.45"].revoked
    assert verdicts["https://files.exfil.example/upload"].valid_from == datetime(2099, 1, 1, tzinfo=UTC)


def test_valid_until_before_valid_from_is_invalid() -> None:
    indicator = _indicator("[ipv4-addr:value = '192.0.2.1']", valid_until="2023-12-31T00:00:00Z")
    parsed = parse_stix([indicator], defaults=DEFAULTS)
    assert (parsed.verdicts, parsed.skipped_by) == ([], {"invalid": 1})


def test_a_taxii_envelope_and_a_plain_list_of_objects() -> None:
    objects = [_indicator("[domain-name:value = 'evil.example']")]
    envelope = {"more": True, "next": "2", "objects": objects}
    assert [v.value for v in parse_stix(envelope, defaults=DEFAULTS).verdicts] == ["evil.example"]
    assert [v.value for v in parse_stix(objects, defaults=DEFAULTS).verdicts] == ["evil.example"]
    assert parse_stix({"more": False}, defaults=DEFAULTS).verdicts == []


def test_a_document_that_is_not_stix_is_refused() -> None:
    with pytest.raises(FeedFormatError):
        stix_objects({"Event": {}})
    with pytest.raises(FeedFormatError):
        stix_objects("[ipv4-addr:value = '192.0.2.1']")


def test_an_invalid_value_inside_a_pattern_is_skipped_with_its_reason() -> None:
    indicator = _indicator("[ipv4-addr:value = '192.0.2.300' OR ipv4-addr:value = '192.0.2.3']")
    parsed = parse_stix([indicator], defaults=DEFAULTS)
    assert [v.value for v in parsed.verdicts] == ["192.0.2.3"]
    assert parsed.skipped_by == {"invalid value": 1}
    assert "'192.0.2.300' is not an IP address or network" in parsed.reasons[0]


def test_the_same_value_in_two_indicators_is_one_verdict() -> None:
    first = _indicator("[ipv4-addr:value = '192.0.2.1']", indicator_types=["anomalous-activity"])
    second = _indicator(
        "[ipv4-addr:value = '192.0.2.1/32']",
        id="indicator--00000000-0000-4000-8000-000000000002",
        indicator_types=["malicious-activity"],
        created="2023-06-01T00:00:00Z",
    )
    [verdict] = parse_stix([first, second], defaults=DEFAULTS).verdicts
    assert verdict.score == 80
    assert verdict.reference == "indicator--00000000-0000-4000-8000-000000000002"
    assert verdict.first_seen == datetime(2023, 6, 1, tzinfo=UTC)
    assert verdict.tags == ["malicious-activity", "anomalous-activity"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[ipv4-addr:value = '198.51.100.1']", [(IndicatorKind.IPV4, "198.51.100.1")]),
        ("[ipv4-addr:value = '198.51.100.0/24']", [(IndicatorKind.IPV4, "198.51.100.0/24")]),
        ("[ipv6-addr:value = '2001:db8::1']", [(IndicatorKind.IPV6, "2001:db8::1")]),
        ("[file:hashes.'SHA-256' = 'aa']", [(IndicatorKind.SHA256, "aa")]),
        ("[file:hashes.SHA256 = 'aa']", [(IndicatorKind.SHA256, "aa")]),
        ("[file:hashes.'sha256' = 'aa']", [(IndicatorKind.SHA256, "aa")]),
        ("[file:hashes.MD5 = 'aa']", [(IndicatorKind.MD5, "aa")]),
        ("[file:hashes.'MD5' = 'aa']", [(IndicatorKind.MD5, "aa")]),
        ("[file:hashes.'SHA-1' = 'aa']", [(IndicatorKind.SHA1, "aa")]),
        ("[file:hashes.SHA1 = 'aa']", [(IndicatorKind.SHA1, "aa")]),
        ("[url:value = 'http://x.example/it\\'s']", [(IndicatorKind.URL, "http://x.example/it's")]),
        ("[email-addr:value = 'a@b.example']", [(IndicatorKind.EMAIL, "a@b.example")]),
        (
            "[domain-name:value = 'a.example' OR domain-name:value = 'b.example'] OR [url:value = 'http://c.example/']",
            [
                (IndicatorKind.DOMAIN, "a.example"),
                (IndicatorKind.DOMAIN, "b.example"),
                (IndicatorKind.URL, "http://c.example/"),
            ],
        ),
        (
            "[ipv4-addr:value IN ('192.0.2.1', '192.0.2.2')]",
            [(IndicatorKind.IPV4, "192.0.2.1"), (IndicatorKind.IPV4, "192.0.2.2")],
        ),
        ("[ipv4-addr:value ISSUBSET '10.0.0.0/8']", [(IndicatorKind.IPV4, "10.0.0.0/8")]),
        (
            "[domain-name:value MATCHES '^x' OR domain-name:value = 'ok.example']",
            [(IndicatorKind.DOMAIN, "ok.example")],
        ),
        ("[file:hashes.'SHA-512' = 'aa' OR file:hashes.MD5 = 'bb']", [(IndicatorKind.MD5, "bb")]),
    ],
)
def test_pattern_values(pattern: str, expected: list[tuple[IndicatorKind, str]]) -> None:
    assert [(found.kind, found.value) for found in pattern_values(pattern)] == expected


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("[ipv4-addr:value = '1.2.3.4' AND ipv4-addr:value = '5.6.7.8']", "comparisons joined by AND"),
        ("[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'x.example']", "observations joined by AND"),
        ("[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [domain-name:value = 'x.example']", "FOLLOWEDBY"),
        ("[ipv4-addr:value = '1.2.3.4'] WITHIN 60 SECONDS", "WITHIN"),
        (
            "[ipv4-addr:value = '1.2.3.4'] START t'2024-01-01T00:00:00Z' STOP t'2024-02-01T00:00:00Z'",
            "START/STOP",
        ),
        ("[ipv4-addr:value != '1.2.3.4']", "operator != is not an equality"),
        ("[ipv4-addr:value NOT = '1.2.3.4']", "operator NOT = is not an equality"),
        ("[domain-name:value LIKE '%.example']", "operator LIKE is not an equality"),
        ("[file:size > 1000]", "operator > is not an equality"),
        ("[file:name = 'invoice.pdf.exe']", "file:name is not an indicator value we use"),
        ("[network-traffic:dst_port = 443]", "network-traffic:dst_port is not an indicator value we use"),
        ("[ipv4-addr:value = 3]", "compared with something other than a string"),
        ("ipv4-addr:value = '1.2.3.4'", "not a valid STIX pattern"),
    ],
)
def test_patterns_refused(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError, match=reason):
        pattern_values(pattern)
