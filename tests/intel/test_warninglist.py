"""MISP warninglists (and plain known-good lists) to known-good SourceVerdicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from xorb_orchestrator.intel.batch import FeedDefaults, FeedFormatError
from xorb_orchestrator.intel.csv_feed import parse_plain_list
from xorb_orchestrator.intel.warninglist import parse_warninglist
from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict

LISTS = Path(__file__).parent.parent / "data" / "intel" / "warninglists"
DEFAULTS = FeedDefaults(source="misp-warninglists", confidence=90)


def _list(name: str) -> Any:
    return json.loads((LISTS / name).read_text())


def test_a_cidr_list_gives_addresses_and_networks() -> None:
    parsed = parse_warninglist(_list("public-dns-v4.json"), defaults=DEFAULTS)
    assert [(v.kind, v.value) for v in parsed.verdicts] == [
        (IndicatorKind.IPV4, "1.0.0.1"),
        (IndicatorKind.IPV4, "1.1.1.1"),
        (IndicatorKind.IPV4, "8.8.4.4"),
        (IndicatorKind.IPV4, "8.8.8.8"),
        (IndicatorKind.IPV4, "9.9.9.9"),
        (IndicatorKind.IPV4, "149.112.112.0/24"),
        (IndicatorKind.IPV4, "208.67.222.222"),
        (IndicatorKind.IPV6, "2001:4860:4860::8888"),
        (IndicatorKind.IPV6, "2606:4700:4700::/48"),
    ]
    assert parsed.reasons == ["list[9]: 'not-an-address' is not an IP address or network"]
    assert parsed.verdicts[3] == SourceVerdict(
        source="misp-warninglists",
        kind=IndicatorKind.IPV4,
        value="8.8.8.8",
        score=0,
        confidence=90,
        tags=["List of known IPv4 public DNS resolvers"],
        known_good=True,
        reference="List of known IPv4 public DNS resolvers",
    )


def test_a_hostname_list_records_each_domain_for_itself_and_its_subdomains() -> None:
    parsed = parse_warninglist(_list("umbrella-top.json"), defaults=DEFAULTS)
    assert [v.value for v in parsed.verdicts] == [
        "google.com",
        "www.google.com",
        "microsoft.com",
        "windowsupdate.com",
        "akamaiedge.net",  # ".akamaiedge.net"
        "cloudfront.net",  # "*.cloudfront.net"
    ]
    assert all(v.kind is IndicatorKind.DOMAIN and v.known_good and v.score == 0 for v in parsed.verdicts)
    assert parsed.reasons == ["list[6]: 'localhost' is not a domain name"]


def test_a_string_list_takes_each_values_own_kind() -> None:
    parsed = parse_warninglist(_list("common-hashes.json"), defaults=DEFAULTS)
    assert [(v.kind, v.value) for v in parsed.verdicts] == [
        (IndicatorKind.MD5, "d41d8cd98f00b204e9800998ecf8427e"),
        (IndicatorKind.SHA1, "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        (IndicatorKind.SHA256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ]
    assert parsed.skipped_by == {"invalid value": 1}  # SHA-512: no kind for it


def test_regex_and_substring_lists_are_refused_whole() -> None:
    parsed = parse_warninglist(_list("placeholder-regex.json"), defaults=DEFAULTS)
    assert parsed.verdicts == []
    assert parsed.skipped_by == {"unsupported type": 2}
    assert parsed.reasons == ["Placeholder domains: regex lists match patterns, not values"]
    substring = {"name": "Office 365 URLs", "type": "substring", "list": ["outlook.office365.com", ".sharepoint.com"]}
    assert parse_warninglist(substring, defaults=DEFAULTS).skipped == 2


def test_a_document_that_is_not_a_warninglist_is_refused() -> None:
    with pytest.raises(FeedFormatError):
        parse_warninglist({"name": "x", "list": "8.8.8.8"}, defaults=DEFAULTS)
    with pytest.raises(FeedFormatError, match="'glob' is not one of"):
        parse_warninglist({"name": "x", "type": "glob", "list": []}, defaults=DEFAULTS)


def test_a_plain_known_good_list() -> None:
    parsed = parse_plain_list("# our mail relays\n192.0.2.25\nmx.corp.example\n", defaults=DEFAULTS, known_good=True)
    assert [(v.kind, v.value, v.score, v.known_good) for v in parsed.verdicts] == [
        (IndicatorKind.IPV4, "192.0.2.25", 0, True),
        (IndicatorKind.DOMAIN, "mx.corp.example", 0, True),
    ]
