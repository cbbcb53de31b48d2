"""Pure decisions, no Temporal or Redis: severity, observables, the generic alert, correlation,
planning and enrichment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from xorb_orchestrator.config.settings import DEFAULT_INTERNAL_NETWORKS, parse_networks
from xorb_orchestrator.models.alert import Alert, fingerprint_event
from xorb_orchestrator.models.enrichment import Enrichment
from xorb_orchestrator.models.ids import incident_id_for
from xorb_orchestrator.models.observable import Observable, ObservableType
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.models.workflow_io import PlanInput
from xorb_orchestrator.policy.assets import AssetInventory
from xorb_orchestrator.policy.enrichment import enrich
from xorb_orchestrator.policy.planning import NOTIFY_ACTION, plan_response
from xorb_orchestrator.services.correlation import correlation_key, fingerprint
from xorb_orchestrator.sources.generic_alert import GenericAlert

# --- Severity ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("informational", Severity.INFORMATIONAL),
        ("low", Severity.LOW),
        ("Medium", Severity.MEDIUM),
        (" HIGH ", Severity.HIGH),
        ("critical", Severity.CRITICAL),
        ("fatal", Severity.FATAL),
        (0, Severity.UNKNOWN),
        (4, Severity.HIGH),
        (5, Severity.CRITICAL),
        ("5", Severity.CRITICAL),
        (" 2 ", Severity.LOW),
        ("info", Severity.INFORMATIONAL),
        ("med", Severity.MEDIUM),
        ("crit", Severity.CRITICAL),
        (Severity.LOW, Severity.LOW),
    ],
)
def test_severity_parse_accepts_labels_numbers_and_aliases(value: object, expected: Severity) -> None:
    assert Severity.parse(value) is expected


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("LOUD", "'LOUD'"),
        ("", "got ''"),
        (None, "got None"),
        (9, "0-6, got 9"),
        (-1, "0-6, got -1"),
        ("7", "0-6, got 7"),
        ("-1", "'-1'"),
        (1.5, "1.5"),
        (True, "boolean"),
        ("²", "'²'"),  # a Unicode digit int() cannot read
    ],
)
def test_severity_parse_refuses_bad_values_saying_what_was_given(value: object, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        Severity.parse(value)
    assert says in str(caught.value)
    assert "0-6" in str(caught.value)  # and what would be accepted


def test_severity_label_is_lowercase_name() -> None:
    assert Severity.CRITICAL.label == "critical"
    assert [int(s) for s in Severity] == list(range(7))


# --- Observables ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "raw", "canonical"),
    [
        ("ip", "2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("ip", "::ffff:192.0.2.1", "::ffff:c000:201"),
        ("ip", " 10.0.0.5 ", "10.0.0.5"),
        ("file_hash", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"),
        ("file_hash", "A" * 64, "a" * 64),
        ("domain", "Evil.Example.", "evil.example"),
        ("port", "0080", "80"),
        ("port", 443, "443"),
        ("user", "alice", "alice"),
    ],
)
def test_observable_value_is_canonical(kind: str, raw: object, canonical: str) -> None:
    assert Observable(type=kind, value=raw).value == canonical


@pytest.mark.parametrize(
    ("kind", "raw", "says"),
    [
        ("ip", "10.0.0.999", "not an IPv4 or IPv6 address"),
        ("file_hash", "abc123", "not an MD5, SHA-1, SHA-256 or SHA-512"),
        ("domain", "bad domain", "not a domain name"),
        ("domain", "a..b", "not a domain name"),
        ("domain", "-evil.example", "not a domain name"),
        ("url", "example.com/path", "not an absolute URL"),
        ("port", "70000", "not a port number"),
        ("user", "", "must not be empty"),
        ("user", "x" * 1025, "longer than 1024"),
        ("ip", True, "boolean"),
    ],
)
def test_observable_refuses_bad_values(kind: str, raw: object, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Observable(type=kind, value=raw)
    assert says in str(caught.value)


# --- The generic alert ----------------------------------------------------------------------------


def test_generic_alert_dedups_observables_and_techniques() -> None:
    generic = GenericAlert.model_validate(
        {
            "title": "Port scan",
            "severity": 3,
            "observables": {
                "src_ip": ["10.0.0.5", " 10.0.0.5", "10.0.0.5"],
                "dest_ip": ["2001:db8::1", "2001:DB8:0::1"],  # the same address, written twice
                "hash": ["ABCDEF0123456789ABCDEF0123456789", "abcdef0123456789abcdef0123456789"],
            },
            "techniques": ["T1046", "T1046", "T1595.001"],
        }
    )
    alert = generic.to_alert()
    assert [(o.type, o.value, o.role) for o in alert.observables] == [
        (ObservableType.IP, "10.0.0.5", "src"),
        (ObservableType.IP, "2001:db8::1", "dest"),
        (ObservableType.FILE_HASH, "abcdef0123456789abcdef0123456789", None),
    ]
    assert alert.techniques == ["T1046", "T1595.001"]
    assert alert.severity is Severity.MEDIUM
    assert alert.source == "generic"


def test_generic_alert_keeps_same_value_in_different_roles() -> None:
    alert = GenericAlert.model_validate(
        {"title": "Loop", "severity": "low", "observables": {"src_ip": "10.0.0.1", "dest_ip": "10.0.0.1"}}
    ).to_alert()
    assert [o.role for o in alert.observables] == ["src", "dest"]


def test_generic_alert_accepts_observable_list_with_roles() -> None:
    alert = GenericAlert.model_validate(
        {
            "title": "Beacon",
            "severity": "high",
            "observables": [
                {"type": "ip", "value": "198.51.100.7", "role": "dest"},
                {"type": "src_ip", "value": "10.1.1.1"},
                {"type": "domain", "value": ["C2.Example", "c2.example"]},
            ],
        }
    ).to_alert()
    assert [(o.type, o.value, o.role) for o in alert.observables] == [
        (ObservableType.IP, "198.51.100.7", "dest"),
        (ObservableType.IP, "10.1.1.1", "src"),
        (ObservableType.DOMAIN, "c2.example", None),
    ]
    assert alert.primary_observable() == Observable(type=ObservableType.IP, value="10.1.1.1", role="src")


@pytest.mark.parametrize(
    ("observables", "says"),
    [
        ({"src_port": True}, "src_port"),  # a boolean is not a port (and must not become port 1)
        ({"src_ip": None}, "src_ip"),
        ({"colour": "red"}, "unknown observable type"),
    ],
)
def test_generic_alert_refuses_bad_observables(observables: object, says: str) -> None:
    with pytest.raises(ValidationError) as caught:
        GenericAlert.model_validate({"title": "x", "severity": "low", "observables": observables})
    assert says in str(caught.value)


# --- Correlation ----------------------------------------------------------------------------------


def _alert(**changes: object) -> Alert:
    base: dict[str, object] = {
        "source": "ids-1",
        "title": "Outbound C2 beacon",
        "severity": "high",
        "rule": "c2-beacon",
        "observables": [{"type": "ip", "value": "10.0.0.5", "role": "src"}],
    }
    base.update(changes)
    return Alert.model_validate(base)


def test_fingerprint_uses_event_id_and_what_was_read_when_given() -> None:
    first = _alert(event_id="evt-1", title="one wording", raw={"received": "09:00:01"})
    again = _alert(event_id="evt-1", title="one wording", raw={"received": "09:00:07"})  # a shipper's own field
    assert fingerprint(first) == fingerprint(again)
    # The same id on other content is another alert that reused the id (issue 14, item 8), not a re-delivery.
    reworded = _alert(event_id="evt-1", title="another wording")
    assert fingerprint(reworded) != fingerprint(first)
    assert fingerprint_event(fingerprint(reworded)) == fingerprint_event(fingerprint(first)) is not None
    assert fingerprint(_alert(event_id="evt-2")) != fingerprint(first)
    # The same id from another source is another event.
    assert fingerprint(_alert(event_id="evt-1", source="ids-2")) != fingerprint(first)


def test_fingerprint_without_event_id_follows_content() -> None:
    assert fingerprint(_alert()) == fingerprint(_alert())
    assert fingerprint(_alert()) != fingerprint(_alert(title="Outbound C2 beacon (2)"))
    assert fingerprint(_alert()) != fingerprint(_alert(raw={"flow_id": 1}))
    assert fingerprint(_alert(time=datetime(2024, 1, 1, tzinfo=UTC))) != fingerprint(_alert())


def test_correlation_key_is_stable_and_groups_by_source_rule_and_primary_observable() -> None:
    key = correlation_key(_alert())
    assert key == correlation_key(_alert())
    assert len(key) == 24 and all(c in "0123456789abcdef" for c in key)
    assert incident_id_for(key, None) == "incident-" + key
    window = datetime(2026, 1, 2, 3, 40, tzinfo=UTC)
    assert incident_id_for(key, window) == f"incident-{key}-20260102T034000"
    # Another deployment (task queue) sharing the namespace never shares incidents.
    assert correlation_key(_alert(), scope="queue-a") != correlation_key(_alert(), scope="queue-b")
    # Same incident: another wording, another severity, another event id, extra non-primary observables.
    assert correlation_key(_alert(title="other", severity="low", event_id="e9")) == key
    with_dest = _alert(
        observables=[
            {"type": "ip", "value": "10.0.0.5", "role": "src"},
            {"type": "ip", "value": "203.0.113.9", "role": "dest"},
        ]
    )
    assert correlation_key(with_dest) == key
    # Another incident: another rule, another primary observable, another source.
    assert correlation_key(_alert(rule="port-scan")) != key
    assert correlation_key(_alert(observables=[{"type": "ip", "value": "10.0.0.6", "role": "src"}])) != key
    assert correlation_key(_alert(source="ids-2")) != key


def test_correlation_key_without_rule_uses_title() -> None:
    assert correlation_key(_alert(rule=None)) == correlation_key(_alert(rule=None))
    assert correlation_key(_alert(rule=None, title="A")) != correlation_key(_alert(rule=None, title="B"))


# --- Planning -------------------------------------------------------------------------------------


def _plan_input() -> PlanInput:
    observables = [Observable(type=ObservableType.IP, value="93.184.216.34", role="dest")]
    return PlanInput(
        incident_id="incident-" + "0" * 24,
        title="Outbound C2 beacon",
        severity_id=4,
        observables=observables,
        techniques=["T1071.001"],
        enrichment=enrich(observables, INVENTORY),
    )


def test_plan_without_webhooks_has_one_step_that_says_none_configured() -> None:
    plan = plan_response(_plan_input(), [])
    assert plan.playbook == "notify-soc"
    assert [(s.id, s.action) for s in plan.steps] == [("notify-1", NOTIFY_ACTION)]
    assert plan.steps[0].args == {"webhook": None, "host": "none configured"}
    assert "high incident with 1 observable(s), 1 external" in plan.rationale


def test_plan_with_two_webhooks_names_hosts_never_urls() -> None:
    urls = [
        "https://hooks.slack.example/services/T000/B000/SECRET-TOKEN",
        "http://chat.internal.example:8065/hooks/other-secret",
    ]
    plan = plan_response(_plan_input(), urls)
    assert [(s.id, s.action) for s in plan.steps] == [
        ("notify-1", NOTIFY_ACTION),
        ("notify-2", NOTIFY_ACTION),
    ]
    assert [s.args for s in plan.steps] == [
        {"webhook": 0, "host": "hooks.slack.example"},
        {"webhook": 1, "host": "chat.internal.example"},
    ]
    text = plan.model_dump_json()
    assert "hooks.slack.example" in text and "chat.internal.example" in text
    for secret in ("SECRET-TOKEN", "other-secret", "/services/", "https://", "http://"):
        assert secret not in text


# --- Enrichment -----------------------------------------------------------------------------------


INVENTORY = AssetInventory((), parse_networks(DEFAULT_INTERNAL_NETWORKS))


def test_enrich_splits_external_and_internal_by_the_deployments_networks() -> None:
    result: Enrichment = enrich(
        [
            Observable(type=ObservableType.IP, value="10.0.0.5", role="src"),
            Observable(type=ObservableType.IP, value="203.0.113.10", role="dest"),
            Observable(type=ObservableType.IP, value="127.0.0.1"),
            Observable(type=ObservableType.DOMAIN, value="c2.example"),
            Observable(type=ObservableType.URL, value="https://c2.example/x"),
            Observable(type=ObservableType.USER, value="alice"),
        ],
        INVENTORY,
    )
    # 203.0.113.0/24 is documentation space, but not ours: only XORB_INTERNAL_NETWORKS and the inventory are.
    assert result.external == ["ip:203.0.113.10", "domain:c2.example", "url:https://c2.example/x"]
    assert result.internal == ["ip:10.0.0.5"]
    facts = {o.value: o for o in result.observables}
    assert facts["10.0.0.5"].role == "src" and facts["10.0.0.5"].facts["scope"] == "internal"
    assert facts["127.0.0.1"].asset is not None and facts["127.0.0.1"].asset.scope.value == "local"
    assert facts["alice"].facts == {"scope": "unknown", "external": False}
    assert all(o.verdict is None for o in result.observables)  # nothing was looked up


def test_a_large_raw_event_is_kept_as_an_excerpt_with_its_size_and_hash() -> None:
    import hashlib
    import json

    from xorb_orchestrator.models.alert import MAX_RAW_BYTES, RAW_EXCERPT_CHARS, Alert

    small = {"event": "x" * 100}
    assert Alert(source="s", title="t", severity="low", raw=small).raw == small
    raw = {"body": "é" * MAX_RAW_BYTES}
    alert = Alert(source="s", title="t", severity="low", raw=raw)
    text = json.dumps(raw, separators=(",", ":"), ensure_ascii=False)
    assert alert.raw == {
        "_truncated": True,
        "size": len(text.encode()),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "excerpt": text[:RAW_EXCERPT_CHARS],
    }
    # Decoding it again (a workflow reading its history) leaves the excerpt as it is.
    assert Alert.model_validate_json(alert.model_dump_json()).raw == alert.raw
