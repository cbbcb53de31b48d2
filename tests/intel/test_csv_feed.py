"""CSV feeds (Feodo Tracker, URLhaus, ThreatFox) and plain lists to SourceVerdicts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from xorb_orchestrator.intel.batch import FeedDefaults, FeedFormatError
from xorb_orchestrator.intel.csv_feed import CsvColumns, parse_csv, parse_plain_list
from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict, Tlp

DATA = Path(__file__).parent.parent / "data" / "intel"
FEODO = CsvColumns(value="dst_ip", first_seen="first_seen_utc", last_seen="last_online", tags="malware")
URLHAUS = CsvColumns(
    value="url", first_seen="dateadded", last_seen="last_online", tags=["threat", "tags"], reference="id"
)
THREATFOX = CsvColumns(
    value="ioc_value",
    type="ioc_type",
    confidence="confidence_level",
    first_seen="first_seen_utc",
    last_seen="last_seen_utc",
    tags=["malware_printable", "tags"],
    reference="ioc_id",
)


def test_feodo_tracker_ipblocklist() -> None:
    text = (DATA / "feodo-ipblocklist.csv").read_text()
    parsed = parse_csv(text, columns=FEODO, kind=IndicatorKind.IPV4, defaults=FeedDefaults("feodo", score=90))
    assert [(v.value, v.tags) for v in parsed.verdicts] == [
        ("198.51.100.205", ["Dridex"]),
        ("198.51.100.32", ["Dridex"]),
        ("203.0.113.146", ["QakBot", "Pikabot"]),  # listed once per port: one verdict
        ("192.0.2.61", ["Pikabot"]),
    ]
    assert parsed.skipped == 0
    assert parsed.verdicts[0] == SourceVerdict(
        source="feodo",
        kind=IndicatorKind.IPV4,
        value="198.51.100.205",
        score=90,
        first_seen=datetime(2021, 1, 17, 7, 30, 5, tzinfo=UTC),
        last_seen=datetime(2024, 1, 14, tzinfo=UTC),
        tags=["Dridex"],
    )
    merged = parsed.verdicts[2]
    assert (merged.first_seen, merged.last_seen) == (
        datetime(2023, 11, 2, 12, 1, 9, tzinfo=UTC),
        datetime(2024, 1, 15, tzinfo=UTC),
    )
    assert parsed.verdicts[3].last_seen is None  # last_online empty


def test_feodo_with_its_header_as_a_comment_and_windows_line_ends() -> None:
    text = (DATA / "feodo-ipblocklist.csv").read_text().replace('"first_seen_utc"', '# "first_seen_utc"')
    parsed = parse_csv(text.replace("\n", "\r\n"), columns=FEODO, defaults=FeedDefaults("feodo"))
    assert [v.value for v in parsed.verdicts] == ["198.51.100.205", "198.51.100.32", "203.0.113.146", "192.0.2.61"]


def test_urlhaus_csv_recent() -> None:
    text = (DATA / "urlhaus-csv-recent.csv").read_text()
    parsed = parse_csv(text, columns=URLHAUS, kind=IndicatorKind.URL, defaults=FeedDefaults("urlhaus"))
    assert [(v.kind, v.value, v.tags, v.reference) for v in parsed.verdicts] == [
        (
            IndicatorKind.URL,
            "http://198.51.100.119:42520/i",
            ["malware_download", "32-bit", "elf", "mips", "Mozi"],
            "2766563",
        ),
        (
            IndicatorKind.URL,
            "https://cdn-files.example.net/Invoice_0115.zip",
            ["malware_download", "AgentTesla", "zip"],
            "2766562",
        ),
        (IndicatorKind.URL, "http://203.0.113.8/bins/sora.arm7", ["malware_download", "elf", "mirai"], "2766561"),
        # scheme and host lower-cased, path as given; a tags cell reading None is empty
        (IndicatorKind.URL, "http://download.example.org/Update/Setup.exe", ["malware_download"], "2766560"),
    ]
    assert parsed.verdicts[0].first_seen == datetime(2024, 1, 15, 8, 8, 8, tzinfo=UTC)
    assert parsed.skipped_by == {"invalid value": 1}
    assert parsed.reasons == ["line 14: 'not-a-url' is not an absolute URL"]


def test_threatfox_export_with_spaces_after_commas() -> None:
    parsed = parse_csv(
        (DATA / "threatfox-recent.csv").read_text(), columns=THREATFOX, defaults=FeedDefaults("threatfox")
    )
    assert [(v.kind, v.value, v.confidence) for v in parsed.verdicts] == [
        (IndicatorKind.URL, "http://rocheholding.example/rudolph/five/fre.php", 75),
        (IndicatorKind.IPV4, "198.51.100.90", 100),  # ip:port twice: one verdict, the more confident row's
        (IndicatorKind.DOMAIN, "c2.tofsee-relay.example", 75),
        (IndicatorKind.MD5, "03b1a679e1e40da1f07d88f45d03e651", 95),
    ]
    address = parsed.verdicts[1]
    assert address.tags == ["Cobalt Strike", "CobaltStrike", "cs-watermark-987654321"]
    assert address.reference == "1301610"
    assert address.last_seen == datetime(2024, 7, 16, 6, tzinfo=UTC)  # from the other port's row
    assert parsed.skipped_by == {"unsupported type": 1}
    assert parsed.reasons == ["line 15: type 'sha3_384_hash'"]


def test_columns_by_index_and_a_score_column() -> None:
    text = "# value;score\n198.51.100.1,85,botnet\n198.51.100.2,101,botnet\n"
    columns = CsvColumns(value=0, score=1, tags=2)
    parsed = parse_csv(text, columns=columns, defaults=FeedDefaults("local", tlp=Tlp.AMBER))
    assert [(v.value, v.score, v.tlp, v.tags) for v in parsed.verdicts] == [("198.51.100.1", 85, Tlp.AMBER, ["botnet"])]
    assert parsed.reasons == ["line 3: score must be a number from 0 to 100, got '101'"]


def test_a_row_too_short_for_the_columns_is_skipped() -> None:
    parsed = parse_csv(
        "a,b\n198.51.100.1,x\n198.51.100.2\n", columns=CsvColumns(value="a", tags="b"), defaults=FeedDefaults("f")
    )
    assert [v.value for v in parsed.verdicts] == ["198.51.100.1"]
    assert parsed.reasons == ["line 3: 1 fields, too few for the mapped columns"]


def test_ip_port_values_keep_the_address() -> None:
    text = 'v,t\n"198.51.100.7:443",ip:port\n"[2001:db8::7]:80",ip:port\n"198.51.100.8",ip:port\n'
    parsed = parse_csv(text, columns=CsvColumns(value="v", type="t"), defaults=FeedDefaults("f"))
    assert [(v.kind, v.value) for v in parsed.verdicts] == [
        (IndicatorKind.IPV4, "198.51.100.7"),
        (IndicatorKind.IPV6, "2001:db8::7"),
        (IndicatorKind.IPV4, "198.51.100.8"),
    ]


def test_a_missing_header_names_the_columns() -> None:
    with pytest.raises(FeedFormatError, match="no header line names the columns dst_ip"):
        parse_csv("# nothing here\n198.51.100.1,443\n", columns=CsvColumns(value="dst_ip"), defaults=FeedDefaults("f"))


def test_a_known_good_csv_scores_zero() -> None:
    parsed = parse_csv(
        "host\nintranet.example.com\n", columns=CsvColumns(value="host"), defaults=FeedDefaults("f"), known_good=True
    )
    assert [(v.kind, v.value, v.score, v.known_good) for v in parsed.verdicts] == [
        (IndicatorKind.DOMAIN, "intranet.example.com", 0, True)
    ]


def test_plain_list_with_comments_and_trailing_notes() -> None:
    parsed = parse_plain_list((DATA / "blocklist-plain.txt").read_text(), defaults=FeedDefaults("drop", score=95))
    assert [(v.kind, v.value, v.score) for v in parsed.verdicts] == [
        (IndicatorKind.IPV4, "192.0.2.0/24", 95),
        (IndicatorKind.IPV4, "198.51.100.0/25", 95),
        (IndicatorKind.IPV4, "203.0.113.9", 95),  # a /32 is the address
        (IndicatorKind.IPV6, "2001:db8:dead::/48", 95),
    ]
    assert parsed.reasons == ["line 8: cannot tell what kind of indicator 'not-an-address!' is"]


def test_plain_list_of_one_declared_kind() -> None:
    text = "Evil.Example.\nD41D8CD98F00B204E9800998ECF8427E\n"
    parsed = parse_plain_list(text, kind=IndicatorKind.DOMAIN, defaults=FeedDefaults("f"))
    assert [v.value for v in parsed.verdicts] == ["evil.example"]
    assert parsed.skipped_by == {"invalid value": 1}


def test_a_plain_list_guesses_each_kind() -> None:
    text = (
        "http://a.example/x\nD41D8CD98F00B204E9800998ECF8427E\nA@B.example\n2001:DB8::1\nB.example\n198.51.100.7/24\n"
    )
    parsed = parse_plain_list(text, defaults=FeedDefaults("f"))
    assert [(v.kind, v.value) for v in parsed.verdicts] == [
        (IndicatorKind.URL, "http://a.example/x"),
        (IndicatorKind.MD5, "d41d8cd98f00b204e9800998ecf8427e"),
        (IndicatorKind.EMAIL, "a@b.example"),
        (IndicatorKind.IPV6, "2001:db8::1"),
        (IndicatorKind.DOMAIN, "b.example"),
        (IndicatorKind.IPV4, "198.51.100.0/24"),  # host bits cleared
    ]


def test_reasons_are_bounded_and_counts_are_complete() -> None:
    text = "\n".join(f"bad value {n}!" for n in range(500))
    parsed = parse_plain_list(text, defaults=FeedDefaults("f"), kind=IndicatorKind.IPV4)
    assert parsed.skipped == 500
    assert len(parsed.reasons) == 20


def test_a_large_csv_reads_in_one_pass() -> None:
    rows = [
        f'"2024-01-15 08:00:00","10.{n // 65536}.{n // 256 % 256}.{n % 256}","443","online","2024-01-15","QakBot"'
        for n in range(100_000)
    ]
    text = '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n' + "\n".join(rows)
    parsed = parse_csv(text, columns=FEODO, defaults=FeedDefaults("feodo"))
    assert len(parsed.verdicts) == 100_000
    assert parsed.verdicts[-1].value == "10.1.134.159"
