"""MISP feeds (manifest.json + event files) and /attributes/restSearch responses to SourceVerdicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from xorb_orchestrator.intel.batch import FeedDefaults, FeedFormatError
from xorb_orchestrator.intel.misp import (
    ManifestEntry,
    changed_events,
    event_file,
    parse_misp_attributes,
    parse_misp_event,
    read_manifest,
)
from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict, Tlp

FEED = Path(__file__).parent.parent / "data" / "intel" / "misp-feed"
REST = Path(__file__).parent.parent / "data" / "intel" / "misp-restsearch-attributes.json"
ROYAL = "5f3c2a1e-8b7d-4e6f-9a0b-1c2d3e4f5a6b"
PHISHING = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
DEFAULTS = FeedDefaults(source="circl-osint")
ROYAL_TAGS = ['misp-galaxy:ransomware="Royal Ransomware"', "type:OSINT"]


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _event(uuid: str) -> Any:
    return _load(FEED / event_file(uuid))


def _by_value(verdicts: list[SourceVerdict]) -> dict[str, SourceVerdict]:
    return {verdict.value: verdict for verdict in verdicts}


def test_the_manifest_lists_events_oldest_change_first() -> None:
    manifest = read_manifest(_load(FEED / "manifest.json"))
    assert manifest.events == [
        ManifestEntry(PHISHING, "Phishing campaign targeting invoices", datetime(2023, 2, 27, 15, tzinfo=UTC)),
        ManifestEntry(ROYAL, "OSINT - Royal ransomware infrastructure", datetime(2023, 3, 3, 9, tzinfo=UTC)),
    ]
    assert manifest.skipped == 0


def test_changed_events_are_new_ones_and_those_changed_since_the_last_import() -> None:
    manifest = read_manifest(_load(FEED / "manifest.json"))
    assert changed_events(manifest, {}) == [PHISHING, ROYAL]
    known = {PHISHING: datetime(2023, 2, 27, 15, tzinfo=UTC), ROYAL: datetime(2023, 3, 1, tzinfo=UTC)}
    assert changed_events(manifest, known) == [ROYAL]


def test_a_manifest_key_that_is_not_a_uuid_never_becomes_a_path() -> None:
    manifest = read_manifest({"../../etc/passwd": {"info": "x", "timestamp": "1"}, ROYAL.upper(): {"timestamp": 5}})
    assert [event.uuid for event in manifest.events] == [ROYAL]
    assert manifest.reasons == ["manifest: '../../etc/passwd' is not an event uuid"]
    with pytest.raises(ValueError, match="not an event uuid"):
        event_file("../manifest")
    assert event_file(ROYAL) == f"{ROYAL}.json"


def test_the_royal_event() -> None:
    parsed = parse_misp_event(_event(ROYAL), defaults=DEFAULTS)
    assert [(v.kind, v.value) for v in parsed.verdicts] == [
        (IndicatorKind.IPV4, "198.51.100.77"),  # ip-dst|port
        (IndicatorKind.DOMAIN, "royal-support.example.com"),  # domain|ip, both parts
        (IndicatorKind.IPV4, "203.0.113.15"),
        (IndicatorKind.URL, "http://royal-support.example.com/download/agent.exe"),
        (IndicatorKind.SHA256, "9f2b1c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b"),
        (IndicatorKind.IPV4, "192.0.2.10"),
        (IndicatorKind.IPV4, "198.51.100.128/25"),
        (IndicatorKind.MD5, "b7e2f1a0c9d8e7f6a5b4c3d2e1f0a9b8"),  # from the file object
    ]
    assert parsed.skipped_by == {"not for detection": 1, "unsupported type": 2}
    assert parsed.reasons == [
        "3e4f5a6b-7c8d-4e9f-8a0b-2c3d4e5f6a7b: to_ids is false",
        "7c8d9e0f-1a2b-4c3d-8e4f-6a7b8c9d0e1f: attribute type 'link'",
        "9e0f1a2b-3c4d-4e5f-8a6b-8c9d0e1f2a3b: attribute type 'filename'",
    ]


def test_an_attribute_keeps_its_times_event_score_tags_and_uuid() -> None:
    c2 = _by_value(parse_misp_event(_event(ROYAL), defaults=DEFAULTS).verdicts)["198.51.100.77"]
    assert c2 == SourceVerdict(
        source="circl-osint",
        kind=IndicatorKind.IPV4,
        value="198.51.100.77",
        score=80,  # threat level 1, high
        confidence=50,
        tlp=Tlp.CLEAR,  # tlp:white
        tags=ROYAL_TAGS,
        first_seen=datetime(2023, 2, 27, 10, tzinfo=UTC),
        last_seen=datetime(2023, 3, 1, 8, 15, tzinfo=UTC),
        reference="0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
    )


def test_without_last_seen_the_attribute_timestamp_is_the_last_sighting() -> None:
    url = _by_value(parse_misp_event(_event(ROYAL), defaults=DEFAULTS).verdicts)[
        "http://royal-support.example.com/download/agent.exe"
    ]
    assert (url.first_seen, url.last_seen) == (None, datetime.fromtimestamp(1677830000, UTC))


def test_an_attribute_tlp_tag_is_stricter_than_the_events() -> None:
    digest = "9f2b1c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b"
    verdict = _by_value(parse_misp_event(_event(ROYAL), defaults=DEFAULTS).verdicts)[digest]
    assert verdict.tlp is Tlp.AMBER
    assert verdict.tags == ROYAL_TAGS  # tlp tags are not repeated as tags


def test_a_deleted_attribute_is_kept_as_revoked() -> None:
    verdicts = _by_value(parse_misp_event(_event(ROYAL), defaults=DEFAULTS).verdicts)
    assert verdicts["192.0.2.10"].revoked
    assert not verdicts["198.51.100.77"].revoked


def test_the_phishing_event_low_threat_amber_strict() -> None:
    parsed = parse_misp_event(_event(PHISHING), defaults=DEFAULTS)
    assert [(v.kind, v.value, v.score, v.tlp) for v in parsed.verdicts] == [
        (IndicatorKind.EMAIL, "accounts@invoice-mailer.example", 30, Tlp.AMBER_STRICT),
        (IndicatorKind.DOMAIN, "login.invoice-mailer.example", 30, Tlp.AMBER_STRICT),
        # filename|sha1 whose file name holds a '|': the digest is the last part
        (IndicatorKind.SHA1, "5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d", 30, Tlp.AMBER_STRICT),
    ]
    assert parsed.skipped_by == {"unsupported type": 1, "invalid value": 1}
    assert parsed.reasons[1] == "6f7a8b9c-0d1e-4f2a-9b3c-5d6e7f8a9b0c: '203.0.113.300' is not an IP address or network"


@pytest.mark.parametrize(("level", "score"), [("1", 80), ("2", 50), ("3", 30), ("4", 65), (None, 65)])
def test_threat_level_scores(level: str | None, score: int) -> None:
    event = {"threat_level_id": level, "Attribute": [{"type": "domain", "value": "x.example", "to_ids": True}]}
    parsed = parse_misp_event({"Event": event}, defaults=FeedDefaults("f", score=65))
    assert parsed.verdicts[0].score == score


def test_an_attribute_without_to_ids_counts_as_for_detection() -> None:
    event = {"Attribute": [{"type": "ip-dst", "value": "192.0.2.5"}]}
    assert [v.value for v in parse_misp_event(event, defaults=DEFAULTS).verdicts] == ["192.0.2.5"]


def test_rest_search_attributes() -> None:
    parsed = parse_misp_attributes(_load(REST), defaults=FeedDefaults("misp-local", score=60, tlp=Tlp.AMBER))
    assert parsed.verdicts == [
        SourceVerdict(
            source="misp-local",
            kind=IndicatorKind.IPV4,
            value="198.51.100.99",
            score=60,  # the response carries no threat level: the feed default
            tlp=Tlp.GREEN,
            tags=["kill-chain:Delivery"],
            last_seen=datetime.fromtimestamp(1700000000, UTC),
            reference="7a8b9c0d-1e2f-4a3b-8c4d-6e7f8a9b0c1d",
        ),
        SourceVerdict(
            source="misp-local",
            kind=IndicatorKind.DOMAIN,
            value="ssh-gate.example.org",  # hostname|port
            score=60,
            tlp=Tlp.AMBER,  # untagged: the feed default
            first_seen=datetime(2023, 11, 14, 20, tzinfo=UTC),
            last_seen=datetime.fromtimestamp(1700000100, UTC),
            reference="8b9c0d1e-2f3a-4b4c-9d5e-7f8a9b0c1d2e",
        ),
    ]
    assert parsed.skipped_by == {"not for detection": 1}


def test_documents_that_are_not_misp_are_refused() -> None:
    with pytest.raises(FeedFormatError):
        parse_misp_event({"Event": {"Attribute": "x"}}, defaults=DEFAULTS)
    with pytest.raises(FeedFormatError):
        parse_misp_attributes({"response": []}, defaults=DEFAULTS)
    with pytest.raises(FeedFormatError):
        read_manifest([ROYAL])
