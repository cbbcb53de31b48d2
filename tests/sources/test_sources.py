"""Source adapters: real-shaped events of each detector's format in, normalized Alerts out. Pure, fast."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.paths import ROOT
from xorb_orchestrator.models.alert import Alert
from xorb_orchestrator.models.observable import ObservableType
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.services.correlation import correlation_key, fingerprint
from xorb_orchestrator.sources import (
    ADAPTERS,
    AlertFormatError,
    UnknownSourceError,
    parse_event,
)
from xorb_orchestrator.sources.common import (
    Found,
    ObservableSet,
    find,
    parse_time,
    techniques,
)
from xorb_orchestrator.sources.wazuh import level_to_severity

DATA = ROOT / "tests" / "data" / "sources"
SOURCES = ("generic", "suricata", "wazuh", "ecs", "ocsf")

Obs = tuple[str, str, str | None]


def load(source: str, name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((DATA / source / f"{name}.json").read_text())
    return event


def parse(source: str, event: dict[str, Any]) -> Alert:
    alert = parse_event(source, event)
    assert alert is not None
    return alert


def observables(alert: Alert) -> list[Obs]:
    return [(o.type.value, o.value, o.role) for o in alert.observables]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- Every fixture: what it must become ------------------------------------------------------------

EXPECTED: dict[tuple[str, str], dict[str, Any]] = {
    ("generic", "example"): {
        "source": "suricata-edge",
        "title": "Outbound C2 beacon",
        "severity": Severity.HIGH,
        "rule": "ET MALWARE beacon",
        "event_id": "edge-fw-7731",
        "time": at("2024-06-06T09:40:12+00:00"),
        "techniques": ["T1071.001"],
        "observables": [
            ("ip", "10.0.0.5", "src"),
            ("ip", "203.0.113.10", "dest"),
            ("port", "443", "dest"),
            ("domain", "c2.example", None),
        ],
    },
    ("generic", "minimal"): {
        "source": "generic",
        "title": "Test alert",
        "severity": Severity.LOW,
        "rule": None,
        "event_id": None,
        "time": None,
        "techniques": [],
        "observables": [],
    },
    ("generic", "list_observables"): {
        "source": "idp-monitor",
        "title": "Impossible travel for user",
        "severity": Severity.MEDIUM,
        "rule": None,
        "event_id": None,
        "time": None,
        "techniques": ["T1078"],
        "observables": [
            ("user", "j.doe", None),
            ("ip", "198.51.100.9", "src"),
            ("hostname", "WKS-FIN-07", None),
        ],
    },
    ("suricata", "example"): {
        "source": "suricata",
        "product": "Suricata",
        "title": "ET MALWARE Win32/Example CnC Checkin (POST)",
        "severity": Severity.HIGH,
        "rule": "2035465",
        "rule_id": "2035465",
        "rule_name": "ET MALWARE Win32/Example CnC Checkin (POST)",
        "event_id": "1402930384773221:2024-05-14T09:21:07.412398+0000:1:2035465",
        "time": at("2024-05-14T09:21:07.412398+00:00"),
        "techniques": ["T1071", "T1071.001"],
        "categories": ["A Network Trojan was detected"],
        "observables": [
            ("ip", "10.1.4.23", "src"),
            ("ip", "198.51.100.77", "dest"),
            ("port", "80", "dest"),
            ("domain", "update.cdn-check.example", None),
            ("url", "http://update.cdn-check.example/gate.php?id=7f3a9c", None),
        ],
    },
    ("suricata", "dns_alert"): {
        "title": "ET DNS Query to a *.pw domain - Likely Hostile",
        "severity": Severity.MEDIUM,
        "rule": "2047122",
        "event_id": "730145896512209:2024-05-14T11:02:44.018823+0000:1:2047122",
        "time": at("2024-05-14T11:02:44.018823+00:00"),
        "techniques": ["T1071.004"],
        "observables": [
            ("ip", "10.1.7.40", "src"),
            ("ip", "10.1.0.2", "dest"),
            ("port", "53", "dest"),
            ("domain", "kq7x2.login-verify.example", None),
        ],
    },
    ("suricata", "tls_alert"): {
        "title": "ET INFO Observed Discord Domain in TLS SNI",
        "severity": Severity.LOW,
        "rule": "2033966",
        "event_id": "1922084471930017:2024-05-15T02:17:09.551020+0000:1:2033966",
        "time": at("2024-05-15T02:17:09.551020+00:00"),
        "techniques": [],
        "observables": [
            ("ip", "2001:db8:10::45", "src"),
            ("ip", "2001:db8:ffff::10", "dest"),
            ("port", "443", "dest"),
            ("domain", "cdn.chat-service.example", None),
        ],
    },
    ("suricata", "fileinfo_alert"): {
        # A download: the alert fires on the server's response, so the server is the source side.
        "title": "ET HUNTING Terse alphanumeric executable downloader high likelihood of being hostile",
        "severity": Severity.MEDIUM,
        "rule": "2019714",
        "event_id": "2049937700105112:2024-05-15T14:40:31.902211+0000:1:2019714",
        "time": at("2024-05-15T14:40:31.902211+00:00"),
        "techniques": ["T1105"],
        "observables": [
            ("ip", "203.0.113.50", "src"),
            ("ip", "10.1.9.12", "dest"),
            ("port", "8080", "src"),
            ("url", "http://203.0.113.50:8080/a1b2.exe", None),
            ("file_hash", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", None),
            ("file_hash", "3395856ce81f2b7382dee72602f798b642f14140", None),
            ("file_hash", "44d88612fea8a8f36de82e1278abb02f", None),
        ],
    },
    ("wazuh", "example"): {
        "source": "wazuh",
        "product": "Wazuh",
        "title": "sshd: brute force trying to get access to the system. Non existent user.",
        "severity": Severity.MEDIUM,
        "rule": "5712",
        "rule_id": "5712",
        "rule_name": "sshd: brute force trying to get access to the system. Non existent user.",
        "event_id": "1710238532.3051922",
        "time": at("2024-03-12T10:15:32.123+00:00"),
        "techniques": ["T1110"],
        "categories": ["syslog", "sshd", "authentication_failures"],
        "observables": [
            ("ip", "203.0.113.45", "src"),
            ("user", "admin", "src"),
            ("hostname", "web-01", None),
            ("ip", "10.20.0.31", None),
        ],
    },
    ("wazuh", "syscheck"): {
        "title": "Integrity checksum changed.",
        "severity": Severity.MEDIUM,
        "rule": "550",
        "event_id": "1712066591.5531220",
        "time": at("2024-04-02T14:03:11.873+00:00"),
        "techniques": ["T1565.001"],
        "observables": [
            ("hostname", "db-02", None),
            ("ip", "10.20.0.15", None),
            ("file_hash", "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592", None),
            ("file_hash", "de9f2c7fd25e1b3afad3e85a0bd17d9b100db4b3", None),
            ("file_hash", "9e107d9d372bb6826bd81d3542a419d6", None),  # sent upper-case
        ],
    },
    ("wazuh", "windows_logon_failure"): {
        # "-" is Windows' "no value": no process observable for it.
        "title": "Logon Failure - Unknown user or bad password",
        "severity": Severity.LOW,
        "rule": "60122",
        "event_id": "1712735103.88120044",
        "time": at("2024-04-10T07:45:03.410+00:00"),
        "techniques": ["T1078", "T1531"],
        "observables": [
            ("ip", "192.0.2.66", "src"),
            ("user", "j.doe", None),
            ("hostname", "WKS-FIN-07", None),
            ("ip", "10.30.4.77", None),
        ],
    },
    ("wazuh", "web_attack"): {
        # data.url is only a path in web access logs: not an absolute URL, so not an observable.
        "title": "Shellshock attack detected",
        "severity": Severity.CRITICAL,
        "rule": "31168",
        "event_id": "1712862175.9920310",
        "time": at("2024-04-11T19:02:55.907+00:00"),
        "techniques": ["T1068", "T1190"],
        "observables": [
            ("ip", "198.51.100.23", "src"),
            ("hostname", "web-01", None),
            ("ip", "10.20.0.31", None),
        ],
    },
    ("ecs", "example"): {
        "source": "ecs",
        "product": "Elastic Security",
        "title": "Suspicious PowerShell Spawned by Office Application",
        "severity": Severity.HIGH,
        "rule": "a624863f-a70d-417f-a7d2-7a404638d47f",
        "rule_id": "a624863f-a70d-417f-a7d2-7a404638d47f",
        "rule_name": "Suspicious PowerShell Spawned by Office Application",
        "event_id": "8c2f4b1d9e7a6053a1c4e8f2b7d90316e5a4c2b1f0e9d8c7b6a5f4e3d2c1b0a9",
        "time": at("2024-06-03T08:40:59.118+00:00"),  # kibana.alert.original_time, not when the rule ran
        "techniques": ["T1059", "T1059.001", "T1566", "T1566.001"],
        "categories": ["Domain: Endpoint", "OS: Windows", "Tactic: Execution"],
        "observables": [
            ("hostname", "WKS-FIN-07", None),
            ("user", "j.doe", None),
            ("file_hash", "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c", None),
            ("ip", "10.30.4.77", None),  # host.ip, without its link-local address
            ("process", "powershell.exe", None),
        ],
    },
    ("ecs", "network_flat"): {
        "title": "Connection to Known C2 Infrastructure",
        "severity": Severity.CRITICAL,
        "rule": "72c0f1f2-22a9-11ef-8d1e-0242ac120002",  # no rule_id: the uuid
        "event_id": "1b7e0c9a55d34f21b8e6c0d7a2f49e13",
        "time": at("2024-06-04T22:10:03.004+00:00"),
        "techniques": ["T1071"],
        "observables": [
            ("ip", "10.30.4.77", "src"),
            ("ip", "203.0.113.200", "dest"),
            ("port", "8443", "dest"),
            ("domain", "relay.sync-cloud.example", "dest"),
            ("hostname", "WKS-FIN-07", None),
            ("url", "https://relay.sync-cloud.example:8443/api/v2/poll", None),
        ],
    },
    ("ecs", "search_hit_risk_score"): {
        "title": "Malware Detection Alert",
        "severity": Severity.MEDIUM,  # risk score 47, no severity label
        "rule": "9a1a2dae-0b5f-4c3d-8305-a268d404c306",
        "event_id": "d6b1a0f9c8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170615243",  # the hit's _id
        "time": at("2024-06-05T03:27:45.900+00:00"),
        "techniques": [],
        "observables": [
            ("hostname", "WKS-FIN-07", None),
            ("user", "j.doe", None),
            ("file_hash", "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f", None),
            ("file_hash", "44d88612fea8a8f36de82e1278abb02f", None),
            ("process", "C:\\Windows\\explorer.exe", None),
        ],
    },
    ("ecs", "legacy_signal"): {
        "title": "Unusual Network Connection via RunDLL32",
        "severity": Severity.MEDIUM,
        "rule": "5c895b4f-9133-4e68-9e23-59902175355c",
        "event_id": "MdLp4uQwBzZk5Q0o++++++7a",
        "time": at("2021-11-02T16:19:58+00:00"),  # signal.original_time
        "techniques": ["T1218", "T1218.011"],
        "observables": [
            ("ip", "10.30.4.12", "src"),
            ("ip", "192.0.2.14", "dest"),
            ("port", "443", "dest"),
            ("hostname", "WKS-OPS-02", None),
            ("process", "rundll32.exe", None),
        ],
    },
    ("ocsf", "example"): {
        "source": "ocsf",
        "product": "Example EDR",
        "title": "Web server process contacted known C2 host",
        "severity": Severity.HIGH,
        "rule": "EDR-NET-0042",
        "rule_id": "EDR-NET-0042",
        "rule_name": "Server process connects to C2 infrastructure",
        "event_id": "0b5e1f2c-7d3a-4e6b-9c8d-1a2b3c4d5e6f",
        "time": at("2024-06-06T09:40:12+00:00"),
        "techniques": ["T1071", "T1071.001", "T1190"],
        "categories": ["Command and Control", "Threat Intel Match"],
        "observables": [
            ("ip", "203.0.113.200", "dest"),
            ("domain", "relay.sync-cloud.example", "dest"),  # the C2 host at a public address: not ours
            ("ip", "10.20.0.31", "src"),
            ("hostname", "web-01.corp.example", None),
            ("user", "www-data", None),
            ("port", "443", "dest"),
            ("process", "nginx", None),
            ("file_hash", "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef", None),
        ],
    },
    ("ocsf", "security_finding_1_0"): {
        # Source port, file name and the invalid hash are not observables; an email is a user's.
        "product": "Example NDR",
        "title": "SMB remote service creation from workstation",
        "severity": Severity.CRITICAL,
        "rule": "NDR-LM-7",
        "event_id": "ndr-5521-0098:1:1696412400000:5",  # the finding's event: uid, activity, time, severity
        "time": at("2023-10-04T09:40:00+00:00"),
        "techniques": ["T1021.002", "T1543.003"],
        "observables": [
            ("ip", "10.30.4.77", "src"),
            ("ip", "10.10.0.5", "dest"),
            ("port", "445", "dest"),
            ("hostname", "dc01.corp.example", "dest"),
            ("user", "j.doe@corp.example", None),
            ("process", "services.exe", None),
        ],
    },
    ("ocsf", "other_severity"): {
        "title": "DNS query for domain on ransomware blocklist",
        "severity": Severity.FATAL,  # severity_id 99, the label says Fatal
        "rule": "Ransomware domain blocklist",  # no analytic uid: the name
        "rule_id": None,
        "event_id": "dnsfw-88213:1:1717779944250:6",  # no metadata.uid: the finding's uid and what changes
        "time": at("2024-06-07T17:05:44.250+00:00"),
        "techniques": [],
        "observables": [
            ("domain", "pay.decryptor-help.example", None),
            ("ip", "10.30.4.90", "src"),
            ("hostname", "wks-hr-03", "src"),
        ],
    },
}


@pytest.mark.parametrize(("source", "name"), sorted(EXPECTED), ids=lambda v: str(v))
def test_fixture_becomes_the_expected_alert(source: str, name: str) -> None:
    event = load(source, name)
    original = copy.deepcopy(event)
    alert = parse(source, event)
    expected = EXPECTED[(source, name)]
    got = {
        "source": alert.source,
        "product": alert.product,
        "title": alert.title,
        "severity": alert.severity,
        "rule": alert.rule,
        "rule_id": alert.rule_id,
        "rule_name": alert.rule_name,
        "event_id": alert.event_id,
        "time": alert.time,
        "techniques": alert.techniques,
        "categories": alert.categories,
        "observables": observables(alert),
    }
    assert {key: got[key] for key in expected} == expected
    if source != "generic":
        assert alert.source == source
        assert alert.raw == original  # the original kept whole
    assert event == original  # and not modified


def test_every_fixture_file_has_expectations() -> None:
    files = {(p.parent.name, p.stem) for p in DATA.glob("*/*.json")}
    ignored = {("suricata", "flow"), ("suricata", "dns"), ("suricata", "stats")}
    assert files - ignored == set(EXPECTED)


@pytest.mark.parametrize("source", SOURCES)
def test_docs_example_is_a_tested_fixture(source: str) -> None:
    documented = json.loads((ROOT / "docs" / "examples" / f"{source}.json").read_text())
    assert documented == load(source, "example")


@pytest.mark.parametrize("name", ["flow", "dns", "stats"])
def test_suricata_non_alert_events_are_ignored(name: str) -> None:
    assert parse_event("suricata", load("suricata", name)) is None


def test_severity_label_comes_with_the_ocsf_number() -> None:
    alert = parse("wazuh", load("wazuh", "web_attack"))
    assert (int(alert.severity), alert.severity.label) == (5, "critical")
    assert alert.model_dump(mode="json")["severity"] == 5


# --- Malformed events: AlertFormatError with the exact JSON path -----------------------------------

Edit = Callable[[dict[str, Any]], object]


def _set(path: list[str | int], new: object) -> Edit:
    def edit(event: dict[str, Any]) -> None:
        target: Any = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = new

    return edit


def _drop(path: list[str]) -> Edit:
    def edit(event: dict[str, Any]) -> None:
        target: Any = event
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return edit


MALFORMED: list[tuple[str, str, Edit, str, str]] = [
    ("generic", "example", _set(["severity"], "urgent"), "$.severity", "expected one of"),
    ("generic", "example", _drop(["title"]), "$.title", "is required"),
    ("generic", "example", _set(["titel"], "typo"), "$.titel", "not a field"),
    ("generic", "example", _set(["observables", "src_ip"], "10.0.0.999"), "$.observables.src_ip", "IPv4"),
    ("generic", "example", _set(["techniques"], ["T1071", "1071"]), "$.techniques[1]", "pattern"),
    ("generic", "example", _set(["time"], "yesterday"), "$.time", "date-time"),
    (
        "generic",
        "list_observables",
        _set(["observables", 1, "value"], "not-an-ip"),
        "$.observables[1].value",
        "IPv4",
    ),
    ("suricata", "example", _drop(["event_type"]), "$.event_type", "is required"),
    ("suricata", "example", _drop(["alert"]), "$.alert", "alert` object"),
    ("suricata", "example", _drop(["alert", "signature"]), "$.alert.signature", "is required"),
    ("suricata", "example", _set(["alert", "signature"], "  "), "$.alert.signature", "non-empty"),
    ("suricata", "example", _drop(["alert", "severity"]), "$.alert.severity", "is required"),
    ("suricata", "example", _set(["alert", "severity"], "high"), "$.alert.severity", "priority"),
    ("suricata", "example", _set(["alert", "severity"], 0), "$.alert.severity", "priority"),
    ("suricata", "example", _set(["timestamp"], "14/05/2024 09:21"), "$.timestamp", "not a timestamp"),
    ("wazuh", "example", _drop(["rule", "description"]), "$.rule.description", "is required"),
    ("wazuh", "example", _drop(["rule"]), "$.rule.description", "is required"),
    ("wazuh", "example", _drop(["rule", "level"]), "$.rule.level", "is required"),
    ("wazuh", "example", _set(["rule", "level"], 16), "$.rule.level", "0-15"),
    ("wazuh", "example", _set(["rule", "level"], "high"), "$.rule.level", "0-15"),
    ("wazuh", "example", _set(["timestamp"], "Mar 12 10:15:32"), "$.timestamp", "not a timestamp"),
    ("ecs", "example", _drop(["kibana.alert.rule.name"]), "$.kibana.alert.rule.name", "is required"),
    ("ecs", "example", _set(["kibana.alert.severity"], "urgent"), "$['kibana.alert.severity']", "low"),
    ("ecs", "network_flat", _set(["kibana.alert.rule.name"], 42.5), "$['kibana.alert.rule.name']", "string"),
    (
        "ecs",
        "search_hit_risk_score",
        _set(["_source", "kibana.alert.risk_score"], 150),
        "$._source['kibana.alert.risk_score']",
        "0-100",
    ),
    (
        "ecs",
        "search_hit_risk_score",
        _drop(["_source", "kibana.alert.risk_score"]),
        "$._source.kibana.alert.severity",
        "is required",
    ),
    ("ecs", "network_flat", _set(["@timestamp"], "now"), "$['@timestamp']", "not a timestamp"),
    (
        "ecs",
        "example",
        _set(["kibana.alert.original_time"], "now"),
        "$['kibana.alert.original_time']",
        "not a timestamp",
    ),
    ("ocsf", "example", _drop(["class_uid"]), "$.class_uid", "is required"),
    ("ocsf", "example", _set(["class_uid"], "Detection Finding"), "$.class_uid", "2004"),
    ("ocsf", "example", _drop(["severity_id"]), "$.severity_id", "is required"),
    ("ocsf", "example", _set(["severity_id"], 7), "$.severity_id", "0-6"),
    ("ocsf", "other_severity", _drop(["finding_info", "title"]), "$.finding_info.title", "is required"),
    ("ocsf", "example", _set(["finding_info", "title"], ["a"]), "$.finding_info.title", "string"),
    ("ocsf", "example", _set(["time"], "soon"), "$.time", "not a timestamp"),
]


@pytest.mark.parametrize(
    ("source", "name", "edit", "path", "fragment"),
    MALFORMED,
    ids=[f"{m[0]}-{m[3]}-{i}" for i, m in enumerate(MALFORMED)],
)
def test_malformed_event_names_its_bad_field(source: str, name: str, edit: Edit, path: str, fragment: str) -> None:
    event = load(source, name)
    edit(event)
    with pytest.raises(AlertFormatError) as caught:
        parse_event(source, event)
    assert caught.value.path == path
    assert fragment in caught.value.message
    assert str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize("source", SOURCES)
def test_an_event_must_be_an_object(source: str) -> None:
    with pytest.raises(AlertFormatError) as caught:
        parse_event(source, [1, 2])
    assert caught.value.path == "$"


def test_unknown_source_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(UnknownSourceError, match="expected one of generic, suricata"):
        parse_event("splunk", {})
    assert set(ADAPTERS) == set(SOURCES)
    assert issubclass(AlertFormatError, ValueError)


# --- Severity mappings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "severity"),
    [
        (range(0, 4), Severity.INFORMATIONAL),
        (range(4, 7), Severity.LOW),
        (range(7, 12), Severity.MEDIUM),
        (range(12, 15), Severity.HIGH),
        (range(15, 16), Severity.CRITICAL),
    ],
)
def test_wazuh_levels(levels: range, severity: Severity) -> None:
    assert {level_to_severity(level) for level in levels} == {severity}
    event = load("wazuh", "example")
    event["rule"]["level"] = str(levels[0])  # some shippers stringify numbers
    assert parse("wazuh", event).severity is severity


@pytest.mark.parametrize(
    ("priority", "severity"),
    [(1, Severity.HIGH), (2, Severity.MEDIUM), (3, Severity.LOW), (4, Severity.INFORMATIONAL)],
)
def test_suricata_priorities(priority: int, severity: Severity) -> None:
    event = load("suricata", "example")
    event["alert"]["severity"] = priority
    assert parse("suricata", event).severity is severity


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        (0, Severity.LOW),
        (21, Severity.LOW),
        (22, Severity.MEDIUM),
        (47, Severity.MEDIUM),
        (48, Severity.HIGH),
        (73, Severity.HIGH),
        (74, Severity.CRITICAL),
        (100, Severity.CRITICAL),
    ],
)
def test_ecs_risk_score_bands(score: int, severity: Severity) -> None:
    event = load("ecs", "example")
    del event["kibana.alert.severity"]
    event["kibana.alert.risk_score"] = score
    assert parse("ecs", event).severity is severity


def test_ocsf_other_severity_with_an_unknown_label_is_unknown() -> None:
    event = load("ocsf", "other_severity")
    event["severity"] = "Sev-A"
    assert parse("ocsf", event).severity is Severity.UNKNOWN


# --- Details of the formats ------------------------------------------------------------------------


def test_ecs_nested_kibana_fields_read_like_flat_ones() -> None:
    flat = load("ecs", "example")
    nested: dict[str, Any] = {k: v for k, v in flat.items() if not k.startswith("kibana.")}
    for key, item in flat.items():
        if key.startswith("kibana."):
            target = nested
            *parents, last = key.split(".")
            for part in parents:
                target = target.setdefault(part, {})
            target[last] = item
    a, b = parse("ecs", flat), parse("ecs", nested)
    assert a.model_dump(exclude={"raw"}) == b.model_dump(exclude={"raw"})


def test_suricata_dns_v3_and_proxy_urls() -> None:
    event = load("suricata", "dns_alert")
    event["dns"] = {"version": 3, "type": "request", "queries": [{"rrname": "a.b.example", "rrtype": "A"}]}
    assert ("domain", "a.b.example", None) in observables(parse("suricata", event))
    event = load("suricata", "example")
    event["http"]["url"] = "http://other.example/x"
    assert ("url", "http://other.example/x", None) in observables(parse("suricata", event))


def test_suricata_redelivery_has_the_same_fingerprint_and_one_rule_one_source_one_key() -> None:
    first = parse("suricata", load("suricata", "example"))
    again = parse("suricata", load("suricata", "example"))
    assert fingerprint(first) == fingerprint(again)
    later = load("suricata", "example")
    later["timestamp"], later["flow_id"] = "2024-05-14T09:25:00.000001+0000", 99
    other = parse("suricata", later)
    assert fingerprint(other) != fingerprint(first)
    assert correlation_key(other) == correlation_key(first)


def test_no_flow_id_means_no_event_id() -> None:
    event = load("suricata", "example")
    del event["flow_id"]
    assert parse("suricata", event).event_id is None


# --- Helpers ----------------------------------------------------------------------------------------


def test_find_reads_nested_flat_and_mixed_keys_with_exact_paths() -> None:
    event = {"a": {"b.c": {"d": 1}}, "x.y": 2, "p": {"q": None}}
    assert find(event, "a.b.c.d") == Found(1, "$.a['b.c'].d")
    assert find(event, "x.y") == Found(2, "$['x.y']")
    assert find(event, "p.q") is None
    assert find(event, "a.b") is None
    assert find({"@timestamp": "t"}, "@timestamp") == Found("t", "$['@timestamp']")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1717666812000, "2024-06-06T09:40:12+00:00"),  # epoch ms (OCSF)
        (1717666812, "2024-06-06T09:40:12+00:00"),  # epoch seconds
        (1717666812000000, "2024-06-06T09:40:12+00:00"),  # epoch microseconds
        ("1717666812000", "2024-06-06T09:40:12+00:00"),
        ("2024-06-06T09:40:12Z", "2024-06-06T09:40:12+00:00"),
        ("2024-06-06T11:40:12+0200", "2024-06-06T09:40:12+00:00"),
        ("2024-06-06T09:40:12", "2024-06-06T09:40:12+00:00"),  # naive means UTC
    ],
)
def test_times(raw: object, expected: str) -> None:
    assert parse_time(Found(raw, "$.t")) == at(expected)


@pytest.mark.parametrize("raw", [True, "", "later", [1], 1e30])
def test_unreadable_times(raw: object) -> None:
    with pytest.raises(AlertFormatError) as caught:
        parse_time(Found(raw, "$.t"))
    assert caught.value.path == "$.t"


def test_technique_ids_are_normalized_and_others_dropped() -> None:
    given = ["t1059", "T1059_001", " T1071.001 ", "TA0011", "Phishing", None, 7, "T1059"]
    assert techniques(given) == ["T1059", "T1059.001", "T1071.001"]


def test_observable_set_skips_bad_values_and_keeps_one_entry_per_value() -> None:
    obs = ObservableSet()
    obs.add(ObservableType.IP, "10.0.0.1")
    obs.add(ObservableType.IP, ["10.0.0.1", "999.1.1.1", "-", True, {"ip": "x"}], "src")
    obs.add(ObservableType.IP, "10.0.0.1")
    obs.add(ObservableType.DOMAIN, "198.51.100.1")  # a bare address is an IP
    obs.add(ObservableType.FILE_HASH, "abc")
    assert [(o.type.value, o.value, o.role) for o in obs.to_list()] == [
        ("ip", "10.0.0.1", "src"),
        ("ip", "198.51.100.1", None),
    ]


# --- Robustness: no shape of input makes an adapter crash ------------------------------------------

ODD_VALUES: list[object] = [None, -5, 1.5, "", "x", True, [None], {"a": 1}]


def _paths(node: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            out += _paths(child, (*prefix, index))
    return out


@pytest.mark.parametrize("source", SOURCES)
def test_any_field_replaced_by_any_odd_value_gives_an_alert_or_a_format_error(source: str) -> None:
    """Every field of every fixture, replaced by each odd value: never an exception other than
    AlertFormatError, which is what keeps a sender's surprise a 4xx naming a field, not a 500."""
    for fixture in sorted((DATA / source).glob("*.json")):
        base = json.loads(fixture.read_text())
        for path in _paths(base):
            for odd in ODD_VALUES:
                event = copy.deepcopy(base)
                _set(list(path), odd)(event)
                try:
                    result = parse_event(source, event)
                except AlertFormatError as exc:
                    assert exc.path.startswith("$")
                else:
                    assert result is None or isinstance(result, Alert)
