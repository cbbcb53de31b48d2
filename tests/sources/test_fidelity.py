"""Adapter fidelity (issue 14): what real detector output carries must reach the Alert.

The events here are written for these tests in the shapes of real files (Wazuh's Suricata integration,
older EVE without `direction`, Elastic 7.x/8.x alerts, OCSF findings of Prowler, GuardDuty (its Create and Update
events) and a DNS sinkhole), with values of our own.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from xorb_orchestrator.models.alert import Alert, fingerprint_event
from xorb_orchestrator.services.correlation import correlation_key, fingerprint
from xorb_orchestrator.sources import AlertFormatError, parse_event
from xorb_orchestrator.sources.common import split_address

Obs = tuple[str, str, str | None]


def parse(source: str, event: dict[str, Any]) -> Alert:
    alert = parse_event(source, event)
    assert alert is not None
    return alert


def observables(alert: Alert) -> list[Obs]:
    return [(o.type.value, o.value, o.role) for o in alert.observables]


def of_type(alert: Alert, kind: str) -> list[Obs]:
    return [o for o in observables(alert) if o[0] == kind]


# --- 1. Wazuh alerts from Wazuh's Suricata integration ---------------------------------------------


def wazuh_suricata(**data: Any) -> dict[str, Any]:
    """A Wazuh alert of rule 86601: the JSON decoder's copy of an EVE alert under `data`, numbers as strings."""
    eve: dict[str, Any] = {
        "timestamp": "2024-09-02T11:04:51.208114+0000",
        "flow_id": "88412093775511.000000",
        "in_iface": "ens5",
        "event_type": "alert",
        "src_ip": "10.40.2.17",
        "src_port": "49822",
        "dest_ip": "198.51.100.41",
        "dest_port": "8080",
        "proto": "TCP",
        "alert": {
            "action": "allowed",
            "gid": "1",
            "signature_id": "2810001",
            "rev": "3",
            "signature": "ET WEB_SERVER Possible path traversal",
            "category": "Web Application Attack",
            "severity": "1",
            "metadata": {"mitre_technique_id": ["T1083"], "mitre_tactic_id": ["TA0007"]},
        },
        "http": {"hostname": "shop.example.org", "url": "/static/../../etc/passwd", "http_method": "GET"},
    }
    eve.update(data)
    return {
        "timestamp": "2024-09-02T11:04:51.208+0000",
        "rule": {
            "level": 3,
            "description": "Suricata: Alert - ET WEB_SERVER Possible path traversal",
            "id": "86601",
            "groups": ["ids", "suricata"],
        },
        "agent": {"id": "000", "name": "wazuh-mgr-01"},
        "manager": {"name": "wazuh-mgr-01"},
        "id": "1725275091.33107",
        "decoder": {"name": "json"},
        "data": eve,
        "location": "/var/log/suricata/eve.json",
    }


def test_wazuh_suricata_alert_keeps_its_network_observables() -> None:
    alert = parse("wazuh", wazuh_suricata())
    assert observables(alert) == [
        ("ip", "10.40.2.17", "src"),
        ("ip", "198.51.100.41", "dest"),
        ("port", "8080", "dest"),  # the server's; the client's 49822 is ephemeral
        ("domain", "shop.example.org", None),
        ("url", "http://shop.example.org/static/../../etc/passwd", None),
        ("hostname", "wazuh-mgr-01", None),
    ]
    assert alert.categories == ["ids", "suricata", "Web Application Attack"]
    assert alert.techniques == ["T1083"]
    assert alert.rule == "86601"  # Wazuh's rule, as for every Wazuh alert


def test_wazuh_suricata_alert_on_the_servers_answer_takes_the_servers_port() -> None:
    event = wazuh_suricata(src_ip="198.51.100.41", src_port="80", dest_ip="10.40.2.17", dest_port="49822")
    assert of_type(parse("wazuh", event), "port") == [("port", "80", "src")]


# --- 2. Suricata without `direction`: the server's port, whichever side it is on ---------------------


def eve_alert(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "timestamp": "2023-02-11T08:15:40.551210+0000",
        "flow_id": 55120938122014,
        "event_type": "alert",
        "src_ip": "10.60.1.5",
        "src_port": 44120,
        "dest_ip": "192.0.2.80",
        "dest_port": 80,
        "proto": "TCP",
        "alert": {"gid": 1, "signature_id": 9000101, "rev": 1, "signature": "LOCAL test rule", "severity": 2},
    }
    event.update(fields)
    return {k: v for k, v in event.items() if v is not None}


SERVER_PORT_CASES: list[tuple[str, dict[str, Any], Obs]] = [
    ("request", {}, ("port", "80", "dest")),
    # An alert on the response (`id check returned root`): the server is the packet's source.
    (
        "response, well-known port",
        {"src_ip": "192.0.2.80", "src_port": 80, "dest_ip": "10.60.1.5", "dest_port": 47013},
        ("port", "80", "src"),
    ),
    (
        "dnp3 reply, record but no app_proto",
        {"src_port": 20000, "dest_port": 58211, "proto": "TCP", "dnp3": {"response": {"type": "response"}}},
        ("port", "20000", "src"),
    ),
    (
        "app_proto tls on a high port against a non-ephemeral client port",
        {"src_port": 8443, "dest_port": 20417, "app_proto": "tls"},
        ("port", "8443", "src"),
    ),
    (
        "flow facts: the flow's source is the client",
        {
            "src_port": 29001,
            "dest_port": 29500,
            "flow": {"src_ip": "192.0.2.80", "dest_ip": "10.60.1.5", "src_port": 29500, "dest_port": 29001},
        },
        ("port", "29001", "src"),
    ),
    (
        "flow facts on one host: the ports tell",
        {
            "src_ip": "127.0.0.1",
            "dest_ip": "127.0.0.1",
            "src_port": 29001,
            "dest_port": 29500,
            "flow": {"src_ip": "127.0.0.1", "dest_ip": "127.0.0.1", "src_port": 29500, "dest_port": 29001},
        },
        ("port", "29001", "src"),
    ),
    ("direction is kept", {"src_port": 80, "dest_port": 47013, "direction": "to_server"}, ("port", "47013", "dest")),
    ("ephemeral client, registered server port", {"src_port": 9200, "dest_port": 51003}, ("port", "9200", "src")),
]


@pytest.mark.parametrize(("case", "fields", "port"), SERVER_PORT_CASES, ids=[c[0] for c in SERVER_PORT_CASES])
def test_suricata_server_port_without_direction(case: str, fields: dict[str, Any], port: Obs) -> None:
    event = eve_alert(**fields)
    alert = parse("suricata", event)
    assert of_type(alert, "port") == [port]
    # The IPs keep the packet's sides, so the port's side is the side of the IP it belongs to.
    assert [o for o in of_type(alert, "ip") if o[2] == port[2]] == [("ip", event[f"{port[2]}_ip"], port[2])]


# --- 3. OCSF finding updates are new events of the finding, not re-deliveries ----------------------------


def guardduty_event(activity_id: int, severity_id: int, time: int) -> dict[str, Any]:
    """One event (Create 1, Update 2, Close 3) of one GuardDuty finding, as Security Hub's OCSF mapping writes it:
    no `metadata.uid`, so only the finding's uid names it."""
    event = guardduty_finding()
    event.update(activity_id=activity_id, severity_id=severity_id, time=time, type_uid=200400 + activity_id)
    return event


def test_ocsf_finding_update_is_a_new_event_of_the_finding() -> None:
    created = parse("ocsf", guardduty_event(1, 2, 1700000000000))
    raised = parse("ocsf", guardduty_event(2, 4, 1700000900000))
    assert created.event_id != raised.event_id
    assert fingerprint(created) != fingerprint(raised)
    # Not an id reused on other content either: each event of the finding has its own id.
    assert fingerprint_event(fingerprint(created)) != fingerprint_event(fingerprint(raised))
    # One key: the update joins the finding's incident (where it raises the severity).
    assert correlation_key(created) == correlation_key(raised)
    assert created.event_id == "arn:aws:guardduty:eu-west-1:000011112222:detector/d1/finding/f1:1:1700000000000:2"


def test_ocsf_event_delivered_twice_counts_once() -> None:
    event = guardduty_event(2, 4, 1700000900000)
    assert fingerprint(parse("ocsf", event)) == fingerprint(parse("ocsf", copy.deepcopy(event)))


@pytest.mark.parametrize(
    "changed",
    [{"activity_id": 3}, {"time": 1700000900001}, {"severity_id": 5}],
    ids=["activity", "time", "severity"],
)
def test_ocsf_each_of_what_changes_between_a_findings_events_makes_another_event(changed: dict[str, int]) -> None:
    event = guardduty_event(2, 4, 1700000900000)
    assert parse("ocsf", {**event, **changed}).event_id != parse("ocsf", event).event_id


def test_ocsf_metadata_uid_names_the_event_when_given() -> None:
    event = guardduty_event(2, 4, 1700000900000)
    event["metadata"]["uid"] = "evt-77"
    assert parse("ocsf", event).event_id == "evt-77"


# --- 4. OCSF hostnames: C2 domains are not our hosts -----------------------------------------------


def sinkhole_finding() -> dict[str, Any]:
    """An OCSF 1.0 Security Finding as a DNS sinkhole feed writes it."""
    return {
        "activity_id": 1,
        "category_uid": 2,
        "class_uid": 2001,
        "class_name": "Security Finding",
        "severity_id": 1,
        "time": 1700000000000,
        "metadata": {
            "version": "1.0.0",
            "product": {
                "name": "Example Sinkhole Intelligence",
                "feature": {"uid": "example_sinkhole", "name": "Example sinkhole collection"},
            },
        },
        "finding": {
            "uid": "5d1c2b0e-1f0a-4e7e-9d1b-000000000001",
            "title": "Infection found on 203.0.113.77",
            "types": ["malware_infection", "infected_device", "trojan.examplebot"],
        },
        "observables": [
            {"name": "infected_device.ip", "type": "IP Address", "type_id": 2, "value": "203.0.113.77"},
            {
                "name": "infected_device.malware_hostname",
                "type": "Hostname",
                "type_id": 1,
                "value": "cc.bad-example.net",
            },
            {"name": "infected_device.source_port", "type": "Client-side port", "type_id": -1, "value": "40112"},
        ],
    }


def test_ocsf_malware_hostname_is_a_domain_not_our_host() -> None:
    alert = parse("ocsf", sinkhole_finding())
    assert observables(alert) == [("ip", "203.0.113.77", None), ("domain", "cc.bad-example.net", None)]


def endpoint_finding(dst_ip: str | None) -> dict[str, Any]:
    dst: dict[str, Any] = {"hostname": "files.example.com", "port": 443}
    declared = [{"name": "evidences[0].dst_endpoint.hostname", "type_id": 1, "value": "files.example.com"}]
    if dst_ip:
        dst["ip"] = dst_ip
    return {
        "class_uid": 2004,
        "severity_id": 3,
        "finding_info": {"uid": "f-1", "title": "Large upload", "analytic": {"uid": "NET-9"}},
        "device": {"hostname": "wks-ops-11", "ip": "10.8.0.11"},
        "evidences": [{"src_endpoint": {"ip": "10.8.0.11", "hostname": "wks-ops-11"}, "dst_endpoint": dst}],
        "observables": [*declared, {"name": "device.hostname", "type_id": 1, "value": "wks-ops-11"}],
    }


@pytest.mark.parametrize(
    ("dst_ip", "kind"),
    [("198.51.100.200", "domain"), (None, "domain"), ("10.8.4.2", "hostname"), ("fd00:8::2", "hostname")],
)
def test_ocsf_destination_hostname_is_ours_only_at_an_internal_address(dst_ip: str | None, kind: str) -> None:
    alert = parse("ocsf", endpoint_finding(dst_ip))
    names = [o for o in observables(alert) if o[0] in ("domain", "hostname")]
    # One entry for the destination (declared and in the evidence alike); the device, the source, stays ours.
    assert names == [(kind, "files.example.com", "dest"), ("hostname", "wks-ops-11", "src")]


# --- 5. OCSF rule: a stable key, not a title with an ARN in it --------------------------------------


def prowler_finding() -> dict[str, Any]:
    return {
        "class_uid": 2004,
        "severity_id": 4,
        "message": "S3 bucket example-logs-0001 has no default encryption.",
        "metadata": {"event_code": "s3_bucket_default_encryption", "product": {"name": "Prowler"}, "version": "1.3.0"},
        "finding_info": {
            "uid": "prowler-aws-s3_bucket_default_encryption-000011112222-us-east-1-example-logs-0001",
            "title": "Check if S3 buckets have default encryption (SSE) enabled",
            "types": ["Data Protection"],
        },
        "time": 1728000000,
    }


def guardduty_finding() -> dict[str, Any]:
    return {
        "class_uid": 2004,
        "severity_id": 2,
        "metadata": {
            "product": {"name": "GuardDuty", "feature": {"uid": "arn:aws:guardduty:eu-west-1:000011112222:detector/d1"}}
        },
        "finding_info": {
            "uid": "arn:aws:guardduty:eu-west-1:000011112222:detector/d1/finding/f1",
            "title": "API GeneratePresignedUrl was invoked from arn:aws:iam::000011112222:role/example-ci.",
            "types": ["TTPs/Discovery/Recon:IAMUser-UserPermissions"],
        },
        "time": 1700000000000,
    }


def feature_only_finding() -> dict[str, Any]:
    return {
        "class_uid": 2004,
        "severity_id": 3,
        "metadata": {"product": {"name": "Example CSPM", "feature": {"name": "Public exposure monitor"}}},
        "finding_info": {"uid": "x-1", "title": "Instance i-0abc0000000000001 is reachable from the internet"},
    }


@pytest.mark.parametrize(
    ("finding", "rule", "rule_id"),
    [
        (prowler_finding, "s3_bucket_default_encryption", "s3_bucket_default_encryption"),
        (guardduty_finding, "TTPs/Discovery/Recon:IAMUser-UserPermissions", None),
        (sinkhole_finding, "malware_infection; infected_device; trojan.examplebot", None),
        (feature_only_finding, "Public exposure monitor", None),
    ],
    ids=["event_code", "finding types", "all finding types", "product feature"],
)
def test_ocsf_rule_when_the_finding_has_no_analytic(finding: Any, rule: str, rule_id: str | None) -> None:
    alert = parse("ocsf", finding())
    assert (alert.rule, alert.rule_id) == (rule, rule_id)


def test_ocsf_analytic_uid_comes_before_the_event_code() -> None:
    event = prowler_finding()
    event["finding_info"]["analytic"] = {"uid": "CHK-17", "name": "S3 default encryption"}
    alert = parse("ocsf", event)
    assert (alert.rule, alert.rule_id, alert.rule_name) == ("CHK-17", "CHK-17", "S3 default encryption")


# --- 6. ECS: host addresses, process hashes, when it happened ----------------------------------------


def ecs_8_alert() -> dict[str, Any]:
    return {
        "@timestamp": "2024-02-20T10:05:00.000Z",  # when the rule ran
        "kibana.alert.original_time": "2024-02-20T09:51:12.345Z",  # when it happened
        "kibana.alert.rule.name": "Threat intel match on process hash",
        "kibana.alert.rule.rule_id": "0f3e1d9a-7c52-4b8e-a1d6-000000000001",
        "kibana.alert.severity": "high",
        "kibana.alert.uuid": "b1c2d3",
        "host": {
            "name": "srv-app-04",
            "ip": ["fe80::9a1:22ff:fe33:4455", "10.12.0.44", "127.0.0.1", "2001:db8:12::44"],
        },
        "process": {
            "name": "updater",
            "hash": {
                "sha256": "0c2b1a8e4d6f3e5a7b9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a",
                "sha1": "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
                "md5": "0cc175b9c0f1b6a831c399e269772661",
            },
        },
    }


def test_ecs_host_addresses_and_process_hashes_are_observables() -> None:
    alert = parse("ecs", ecs_8_alert())
    assert of_type(alert, "ip") == [("ip", "10.12.0.44", None), ("ip", "2001:db8:12::44", None)]
    assert [o[1] for o in of_type(alert, "file_hash")] == [
        "0c2b1a8e4d6f3e5a7b9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a",
        "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
        "0cc175b9c0f1b6a831c399e269772661",
    ]


def test_ecs_time_is_when_it_happened_not_when_the_rule_ran() -> None:
    assert parse("ecs", ecs_8_alert()).time == datetime(2024, 2, 20, 9, 51, 12, 345000, tzinfo=UTC)
    legacy = {
        "_id": "sig-1",
        "_source": {
            "@timestamp": "2021-08-04T04:14:58.974Z",
            "signal": {
                "original_time": "2021-08-04T04:14:53.490Z",
                "rule": {"name": "Indicator match on host.name", "rule_id": "r-1", "severity": "low"},
            },
        },
    }
    assert parse("ecs", legacy).time == datetime(2021, 8, 4, 4, 14, 53, 490000, tzinfo=UTC)


# --- 7. Wazuh addresses written with their port ----------------------------------------------------


def wazuh_fast_log(srcip: str, dstip: str) -> dict[str, Any]:
    """A Wazuh alert of the snort decoder reading Suricata's fast.log: `dstip` keeps its port."""
    return {
        "timestamp": "2024-09-02T11:04:51.196+0000",
        "rule": {"level": 6, "description": "IDS event.", "id": "20101", "groups": ["ids"]},
        "agent": {"id": "000", "name": "wazuh-mgr-01"},
        "id": "1725275091.32977",
        "decoder": {"parent": "snort", "name": "snort"},
        "data": {"srcip": srcip, "dstip": dstip, "id": "1:2810001:3"},
        "location": "/var/log/suricata/fast.log",
    }


@pytest.mark.parametrize(
    ("srcip", "dstip", "ips", "port"),
    [
        ("10.40.2.17", "198.51.100.41:8080", ("10.40.2.17", "198.51.100.41"), ("8080", "dest")),
        ("[2001:db8:40::17]:49822", "[2001:db8:99::41]:443", ("2001:db8:40::17", "2001:db8:99::41"), ("443", "dest")),
        # A response: the server's address (with its port) is the source.
        ("198.51.100.41:80", "10.40.2.17:49822", ("198.51.100.41", "10.40.2.17"), ("80", "src")),
        ("2001:db8:40::17", "2001:db8:99::41", ("2001:db8:40::17", "2001:db8:99::41"), None),
    ],
)
def test_wazuh_address_with_port_is_split(
    srcip: str, dstip: str, ips: tuple[str, str], port: tuple[str, str] | None
) -> None:
    alert = parse("wazuh", wazuh_fast_log(srcip, dstip))
    assert of_type(alert, "ip") == [("ip", ips[0], "src"), ("ip", ips[1], "dest")]
    assert of_type(alert, "port") == ([("port", *port)] if port else [])


@pytest.mark.parametrize(
    ("written", "split"),
    [
        ("192.0.2.1:80", ("192.0.2.1", "80")),
        ("[2001:db8::1]:443", ("2001:db8::1", "443")),
        ("2001:db8::1", ("2001:db8::1", None)),  # a bare IPv6 address: its colons are not a port
        ("::1:80", ("::1:80", None)),
        ("2001:db8::1:80x", ("2001:db8::1:80x", None)),
        ("[192.0.2.1]:80", ("[192.0.2.1]:80", None)),
        ("host.example:80", ("host.example:80", None)),
        (7, (7, None)),
    ],
)
def test_split_address(written: Any, split: tuple[Any, str | None]) -> None:
    assert split_address(written) == split


# --- 9. OCSF classes that are not alerts are ignored, as Suricata's non-alerts are -------------------


@pytest.mark.parametrize(
    "class_uid",
    [2002, 2003, 2005, 2006, 2007, 1007, 3002, 4001, "4003"],
)
def test_ocsf_other_classes_are_ignored_not_rejected(class_uid: object) -> None:
    event = prowler_finding()
    event["class_uid"] = class_uid
    assert parse_event("ocsf", event) is None


@pytest.mark.parametrize("class_uid", [2001, 2004, "2004"])
def test_ocsf_security_and_detection_findings_are_alerts(class_uid: object) -> None:
    event = prowler_finding()
    event["class_uid"] = class_uid
    assert parse("ocsf", event).title == "Check if S3 buckets have default encryption (SSE) enabled"


@pytest.mark.parametrize(("class_uid", "fragment"), [(None, "is required"), (True, "class_uid"), ("x", "2004")])
def test_ocsf_class_uid_missing_or_not_a_number_is_rejected(class_uid: object, fragment: str) -> None:
    event = prowler_finding()
    event["class_uid"] = class_uid
    with pytest.raises(AlertFormatError) as caught:
        parse_event("ocsf", event)
    assert caught.value.path == "$.class_uid"
    assert fragment in caught.value.message


# --- 10. ATT&CK ids under the metadata keys rule sets use --------------------------------------------


def test_suricata_attack_ids_from_every_metadata_key_rule_sets_use() -> None:
    metadata = {
        "mitre_attack": ["t1190"],
        "mitre_technique": ["t1059_001", "Command and Scripting Interpreter"],
        "mitre_technique_id": ["T1071"],
        "mitre_subtechnique_id": ["t1071.004"],
        "MITRE_ATTACK": ["T1595.002"],
        "mitre_tactic_id": ["TA0011"],
        "cve": ["2024-0001"],
    }
    event = eve_alert()
    event["alert"]["metadata"] = metadata
    assert parse("suricata", event).techniques == ["T1190", "T1059.001", "T1071", "T1071.004", "T1595.002"]


# --- Robustness of the new readings: odd values give an alert, None, or a format error --------------

FIXTURES = [
    ("wazuh", wazuh_suricata()),
    ("wazuh", wazuh_fast_log("[2001:db8::1]:80", "192.0.2.1:443")),
    ("suricata", eve_alert(flow={"src_ip": "10.60.1.5", "src_port": 44120}, dnp3={"request": {}})),
    ("ocsf", sinkhole_finding()),
    ("ocsf", endpoint_finding("198.51.100.200")),
    ("ocsf", guardduty_finding()),
    ("ecs", ecs_8_alert()),
]
ODD_VALUES: list[object] = [None, -5, 1.5, "", "x", True, [None], {"a": 1}, "[::1]:x", "1.2.3.4:"]


def _paths(node: object, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            out += _paths(child, (*prefix, index))
    return out


def _replace(event: Any, path: tuple[str | int, ...], new: object) -> None:
    for key in path[:-1]:
        event = event[key]
    event[path[-1]] = new


@pytest.mark.parametrize(("source", "base"), FIXTURES, ids=[f"{s}-{i}" for i, (s, _) in enumerate(FIXTURES)])
def test_any_field_replaced_by_an_odd_value_never_crashes(source: str, base: dict[str, Any]) -> None:
    for path in _paths(base):
        for odd in ODD_VALUES:
            event = copy.deepcopy(base)
            _replace(event, path, odd)
            try:
                result = parse_event(source, event)
            except AlertFormatError as exc:
                assert exc.path.startswith("$")
            else:
                assert result is None or isinstance(result, Alert)
