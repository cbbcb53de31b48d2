"""The feeds file: its model, its defaults, and one-line errors naming file, feed and field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from xorb_orchestrator.intel.batch import FeedDefaults
from xorb_orchestrator.intel.csv_feed import CsvColumns
from xorb_orchestrator.intel.feeds_config import (
    AuthType,
    FeedsConfigError,
    FeedType,
    KnownGoodFormat,
    load_feeds,
)
from xorb_orchestrator.models.verdict import IndicatorKind, Tlp

FEEDS = """\
lifetimes:
  ipv4: 14d
  domain: 60d
feeds:
  - name: feodo
    type: csv
    url: https://feodotracker.abuse.ch/downloads/ipblocklist.csv
    interval: 15m
    kind: ipv4
    columns: {value: dst_ip, first_seen: first_seen_utc, last_seen: last_online, tags: malware}
    score: 90
    confidence: 80
    tlp: clear
    lifetimes: {ipv4: 7d}
  - name: cti-taxii
    type: taxii
    url: https://taxii.example/taxii2/
    api_root: https://taxii.example/api1/
    collection: Indicators
    auth: {type: bearer, token: "env:TAXII_TOKEN"}
  - name: circl-osint
    type: misp-feed
    url: https://www.circl.lu/doc/misp/feed-osint/
  - name: misp-local
    type: misp-api
    url: https://misp.corp.example/
    auth: {type: header, header: Authorization, token: "file:/run/secrets/misp_key"}
  - name: public-dns
    type: known-good
    url: /etc/xorb/warninglists/public-dns-v4.json
  - name: mail-relays
    type: known-good
    url: /etc/xorb/mail-relays.txt
    format: plain
    kind: ipv4
  - name: partner-bundle
    type: stix-bundle
    url: https://partner.example/intel/bundle.json
    auth: {type: basic, username: xorb, token: "env:PARTNER_PASSWORD"}
"""


def _error(text: str) -> str:
    with pytest.raises(FeedsConfigError) as caught:
        load_feeds(text, "/etc/xorb/feeds.yaml")
    return str(caught.value)


def test_a_complete_feeds_file() -> None:
    config = load_feeds(FEEDS, "/etc/xorb/feeds.yaml")
    assert [(f.name, f.type) for f in config.feeds] == [
        ("feodo", FeedType.CSV),
        ("cti-taxii", FeedType.TAXII),
        ("circl-osint", FeedType.MISP_FEED),
        ("misp-local", FeedType.MISP_API),
        ("public-dns", FeedType.KNOWN_GOOD),
        ("mail-relays", FeedType.KNOWN_GOOD),
        ("partner-bundle", FeedType.STIX_BUNDLE),
    ]
    feodo = config.feeds[0]
    assert feodo.columns == CsvColumns(
        value="dst_ip", first_seen="first_seen_utc", last_seen="last_online", tags=["malware"]
    )
    assert feodo.kind is IndicatorKind.IPV4
    assert feodo.interval == timedelta(minutes=15)
    assert feodo.defaults() == FeedDefaults(source="feodo", score=90, confidence=80, tlp=Tlp.CLEAR)
    assert config.lifetimes_for(feodo) == {
        IndicatorKind.IPV4: timedelta(days=7),
        IndicatorKind.DOMAIN: timedelta(days=60),
    }
    taxii = config.feed("cti-taxii")
    assert taxii is not None and taxii.auth is not None
    assert (taxii.collection, taxii.api_root, taxii.auth.type, taxii.auth.token) == (
        "Indicators",
        "https://taxii.example/api1/",
        AuthType.BEARER,
        "env:TAXII_TOKEN",
    )
    assert config.feeds[4].known_good_format is KnownGoodFormat.MISP_WARNINGLIST
    assert config.feeds[5].known_good_format is KnownGoodFormat.PLAIN
    assert config.feeds[3].defaults() == FeedDefaults(source="misp-local", score=70, confidence=50, tlp=None)


def test_intervals_default_per_type() -> None:
    config = load_feeds(FEEDS, "feeds.yaml")
    assert {f.name: f.interval for f in config.feeds if f.name != "feodo"} == {
        "cti-taxii": timedelta(minutes=15),
        "circl-osint": timedelta(hours=1),
        "misp-local": timedelta(minutes=15),
        "public-dns": timedelta(days=1),
        "mail-relays": timedelta(days=1),
        "partner-bundle": timedelta(hours=1),
    }


def test_an_empty_file_has_no_feeds() -> None:
    assert load_feeds("", "feeds.yaml").feeds == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("value: dst_ip", "valu: dst_ip"),
            "/etc/xorb/feeds.yaml: feed 'feodo': columns.valu: unknown key (misspelt?)",
        ),
        (
            ("    interval: 15m", "    intervall: 15m"),
            "/etc/xorb/feeds.yaml: feed 'feodo': intervall: unknown key (misspelt?)",
        ),
        (
            ("lifetimes:\n  ipv4: 14d", "lifetime:\n  ipv4: 14d"),
            "/etc/xorb/feeds.yaml: lifetime: unknown key (misspelt?)",
        ),
        (
            ("collection: Indicators", "collection_id: Indicators"),
            "feed 'cti-taxii': collection_id: unknown key (misspelt?)",
        ),
        (("name: cti-taxii", "name: feodo"), "/etc/xorb/feeds.yaml: feed 'feodo': name: used by more than one feed"),
        (
            ("name: cti-taxii", "name: CTI_Taxii"),
            "feed 'CTI_Taxii': name: must be 1 to 64 characters of a-z, 0-9 and '-'",
        ),
        (("type: misp-api", "type: misp-rest"), "feed 'misp-local': type: Input should be 'stix-bundle', 'taxii'"),
        (("interval: 15m", "interval: 10s"), "feed 'feodo': interval: must be at least 1m"),
        (("interval: 15m", "interval: soon"), "feed 'feodo': interval: expected a duration such as 30s"),
        (("score: 90", "score: 190"), "feed 'feodo': score: Input should be less than or equal to 100"),
        (("tlp: clear", "tlp: white"), "feed 'feodo': tlp: Input should be 'clear', 'green'"),
        (("ipv4: 7d", "ipv5: 7d"), "feed 'feodo': lifetimes.ipv5: Input should be 'ipv4'"),
        (
            ("    collection: Indicators\n", ""),
            "feed 'cti-taxii': collection: a taxii feed needs the collection's id or title",
        ),
        (
            ("https://www.circl.lu", "ftp://www.circl.lu"),
            "feed 'circl-osint': url: must be an http(s):// URL or an absolute file path",
        ),
        (("https://misp.corp.example/", "/srv/misp"), "feed 'misp-local': url: a misp-api feed is read over http(s)"),
        (("https://feodotracker", "https://user:pw@feodotracker"), "feed 'feodo': url: must not carry credentials"),
        (
            ("    kind: ipv4\n    columns", "    collection: x\n    columns"),
            "feed 'feodo': collection: not used by a csv feed",
        ),
        (("format: plain", "format: misp-warninglist"), "feed 'mail-relays': kind: only for format plain"),
        (("value: dst_ip", "value: -1"), "feed 'feodo': columns.value: expected a column name or a 0-based index"),
        (
            ("auth: {type: header, header: Authorization", "auth: {type: header"),
            "feed 'misp-local': auth: header: type header",
        ),
        (("type: basic, username: xorb,", "type: basic,"), "feed 'partner-bundle': auth: username: type basic needs"),
    ],
)
def test_errors_are_one_line_naming_file_feed_and_field(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in FEEDS
    error = _error(FEEDS.replace(old, new, 1))
    assert message in error
    assert "\n" not in error


def test_a_literal_secret_is_refused_without_being_repeated() -> None:
    error = _error(FEEDS.replace("env:TAXII_TOKEN", "c2VjcmV0LXRva2VuLXZhbHVl"))
    assert error == (
        "/etc/xorb/feeds.yaml: feed 'cti-taxii': auth.token: must be a reference, env:NAME or file:/path, "
        "never the secret itself"
    )
    assert "c2VjcmV0" not in error


def test_a_known_good_list_has_no_score() -> None:
    error = _error(FEEDS.replace("    format: plain\n", "    format: plain\n    score: 10\n"))
    assert error == "/etc/xorb/feeds.yaml: feed 'mail-relays': score: a known-good list always scores 0"


def test_yaml_that_does_not_parse_names_the_line() -> None:
    assert _error("feeds:\n  - name: a\n   type: csv\n").startswith("/etc/xorb/feeds.yaml: line 3: not valid YAML:")
    assert _error("- a\n- b\n") == "/etc/xorb/feeds.yaml: expected a mapping with `feeds:` (and `lifetimes:`)"


def test_a_feed_without_a_usable_name_is_named_by_position() -> None:
    error = _error("feeds:\n  - type: csv\n    url: /srv/list.txt\n")
    assert error == "/etc/xorb/feeds.yaml: feeds[0]: name: is required"
