"""The response policy: loading with one-line errors, and `decide` on the README's outbound beacon and its variants
(known-good C2, protected host, expiring verdict, weak or stale hits), with the invariants holding whatever the
policy says. Pure: facts in, decision out, `now` given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.paths import DATA, ROOT
from xorb_orchestrator.config.settings import DEFAULT_INTERNAL_NETWORKS, parse_networks
from xorb_orchestrator.models.observable import Observable, ObservableType
from xorb_orchestrator.models.response_plan import (
    Autonomy,
    Exclusion,
    PlaybookCandidate,
    PolicyDecision,
    PolicyFacts,
    PolicyObservable,
)
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.models.verdict import IndicatorKind, SourceFinding, SourceVerdict, Verdict
from xorb_orchestrator.playbook.catalog import load_catalog
from xorb_orchestrator.policy.assets import AssetInventory, load_assets
from xorb_orchestrator.policy.response_policy import (
    DEFAULT_POLICY_FILE,
    ResponsePolicy,
    ResponsePolicyInvalid,
    check_playbooks,
    decide,
    load_policy,
)
from xorb_orchestrator.service import action_catalog

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
C2 = "203.0.113.10"  # the README's beacon destination: a documentation range, external by default
HOST = "10.0.0.7"
BEACON_PLAYBOOK = PlaybookCandidate(id="contain-malicious-ip", tags=["containment", "network", "T1071", "T1071.001"])
ISOLATE_PLAYBOOK = PlaybookCandidate(id="contain-malware-host", tags=["containment", "endpoint"])
NETWORKS = parse_networks(DEFAULT_INTERNAL_NETWORKS)


def default_policy() -> ResponsePolicy:
    return load_policy(DEFAULT_POLICY_FILE.read_text(encoding="utf-8"), DEFAULT_POLICY_FILE.name)


def verdict(
    value: str,
    *,
    score: int = 90,
    confidence: int = 85,
    age_days: float = 0.5,
    expires_in: timedelta | None = timedelta(days=20),
    known_good: bool = False,
    source: str = "abuse-feed",
) -> Verdict:
    expires_at = NOW + expires_in if expires_in is not None else None
    found = SourceVerdict(
        source=source,
        kind=IndicatorKind.IPV4,
        value=value,
        score=0 if known_good else score,
        confidence=confidence,
        known_good=known_good,
    )
    finding = SourceFinding(
        verdict=found,
        matched=value,
        live=not known_good,
        why_not_live="known-good" if known_good else None,
        expires_at=expires_at,
        age_days=age_days,
        score_now=0 if known_good else score,
    )
    return Verdict(
        kind=IndicatorKind.IPV4,
        value=value,
        hit=not known_good,
        known_good=known_good,
        score=0 if known_good else score,
        confidence=0 if known_good else confidence,
        expires_at=None if known_good else expires_at,
        sources=[finding],
    )


def seen(
    inventory: AssetInventory, kind: str, value: str, role: str | None = None, found: Verdict | None = None
) -> PolicyObservable:
    observable = Observable(type=ObservableType(kind), value=value, role=role)
    return PolicyObservable(
        type=observable.type, value=observable.value, role=role, asset=inventory.context(observable), verdict=found
    )


def beacon(
    c2_verdict: Verdict | None,
    *,
    inventory: AssetInventory | None = None,
    host_verdict: Verdict | None = None,
    candidates: tuple[PlaybookCandidate, ...] = (BEACON_PLAYBOOK,),
    severity: Severity = Severity.HIGH,
) -> PolicyFacts:
    """The README's alert: 'Outbound C2 beacon', src_ip internal, dest_ip the C2, T1071.001."""
    inventory = inventory or AssetInventory(internal_networks=NETWORKS)
    return PolicyFacts(
        severity=severity,
        techniques=["T1071.001"],
        candidates=list(candidates),
        observables=[
            seen(inventory, "ip", HOST, "src", host_verdict),
            seen(inventory, "ip", C2, "dest", c2_verdict),
            seen(inventory, "domain", "c2.example"),
        ],
    )


def passed_over(decision: PolicyDecision) -> dict[str, tuple[Exclusion, str]]:
    return {p.value: (p.exclusion, p.reason) for p in decision.observables_passed_over}


def test_the_default_policy_loads_and_names_only_bundled_playbooks() -> None:
    policy = default_policy()
    assert [rule.name for rule in policy.rules] == [
        "contain-confident-external",
        "contain-external-on-approval",
        "recommend-internal-containment",
        "observe",
    ]
    check_playbooks(policy, load_catalog(ROOT / "playbooks", action_catalog().flags()).keys())


def test_outbound_beacon_targets_the_c2_never_the_internal_host() -> None:
    decision = decide(default_policy(), beacon(verdict(C2)), NOW)
    assert decision.rule == "contain-confident-external"
    assert decision.autonomy is Autonomy.AUTO
    assert decision.playbook == "contain-malicious-ip"
    assert [(t.value, t.role, t.live_hit) for t in decision.targets] == [(C2, "dest", True)]
    evidence = decision.targets[0].evidence[0]
    assert (evidence.source, evidence.score_now, evidence.confidence, evidence.age_days) == ("abuse-feed", 90, 85, 0.5)
    assert decision.duration == timedelta(hours=24)
    exclusion, reason = passed_over(decision)[HOST]
    assert exclusion is Exclusion.OURS and "internal network 10.0.0.0/8" in reason
    assert passed_over(decision)["c2.example"] == (Exclusion.NO_LIVE_VERDICT, "no TI verdict")
    assert decision.summary.startswith("auto: rule 'contain-confident-external' matched; run playbook ")
    assert f"ip {C2} (dest), external, TI hit score 90 confidence 85 from abuse-feed" in decision.summary
    assert f"ip {HOST}: ours" in decision.summary


def test_the_internal_host_is_never_a_target_even_with_its_own_hit() -> None:
    decision = decide(default_policy(), beacon(verdict(C2), host_verdict=verdict(HOST)), NOW)
    assert [t.value for t in decision.targets] == [C2]
    assert passed_over(decision)[HOST][0] is Exclusion.OURS


def test_a_known_good_c2_means_no_action_and_says_why() -> None:
    decision = decide(default_policy(), beacon(verdict(C2, known_good=True, source="corp-allowlist")), NOW)
    assert (decision.rule, decision.autonomy, decision.playbook, decision.targets) == (
        "observe",
        Autonomy.OBSERVE,
        None,
        [],
    )
    assert passed_over(decision)[C2] == (Exclusion.KNOWN_GOOD, "known good: on corp-allowlist")
    reasons = {r.rule: r.reason for r in decision.rules_passed_over}
    assert "203.0.113.10: known good: on corp-allowlist" in reasons["contain-confident-external"]
    assert reasons["recommend-internal-containment"] == "no observable has a live TI hit"
    assert "nothing is done" in decision.summary and "known good: on corp-allowlist" in decision.summary


def test_a_verdict_expiring_in_3h_caps_a_24h_block() -> None:
    decision = decide(default_policy(), beacon(verdict(C2, expires_in=timedelta(hours=3))), NOW)
    assert decision.autonomy is Autonomy.AUTO
    assert decision.duration is not None and decision.duration <= timedelta(hours=3)
    assert decision.duration_capped_by == (
        f"1d cut to 3h: the TI verdict on {C2} expires at {(NOW + timedelta(hours=3)).isoformat()}"
    )


def test_a_weaker_hit_asks_for_approval_denied_on_timeout() -> None:
    decision = decide(default_policy(), beacon(verdict(C2, score=60, confidence=90)), NOW)
    assert decision.rule == "contain-external-on-approval"
    assert (decision.autonomy, decision.deadline, decision.on_timeout) == (Autonomy.APPROVE, timedelta(hours=1), "deny")
    first = decision.rules_passed_over[0]
    assert (first.rule, first.reason) == (
        "contain-confident-external",
        f"no observable qualifies as a target: ip {HOST}: ours (internal network 10.0.0.0/8): the rule acts on "
        f"external observables only; ip {C2}: TI score 60 is below 75; domain c2.example: no TI verdict",
    )


def test_a_stale_hit_asks_for_approval() -> None:
    decision = decide(default_policy(), beacon(verdict(C2, age_days=30)), NOW)
    assert decision.rule == "contain-external-on-approval"
    assert "last seen 30.0 days ago, not within 7d" in decision.rules_passed_over[0].reason


def test_no_network_playbook_means_only_internal_hosts_would_be_acted_on_recommend() -> None:
    facts = beacon(verdict(C2), candidates=(ISOLATE_PLAYBOOK,))
    decision = decide(default_policy(), facts, NOW)
    assert (decision.rule, decision.autonomy, decision.playbook) == (
        "recommend-internal-containment",
        Autonomy.RECOMMEND,
        "contain-malware-host",
    )
    assert [t.value for t in decision.targets] == [HOST]


def test_a_protected_internal_host_is_never_a_target() -> None:
    inventory = load_assets(
        f"assets:\n  - {{name: ceo-laptop, ips: [{HOST}], criticality: critical, protected: true}}\n",
        "assets.yaml",
        "yaml",
        internal_networks=NETWORKS,
    )
    facts = beacon(verdict(C2), inventory=inventory, candidates=(ISOLATE_PLAYBOOK,))
    # Even a policy that asks for our own hosts, with no word about protection, does not get it.
    policy = load_policy(
        """
name: isolate-everything
rules:
  - name: isolate
    targets: [{ours: true}]
    playbook: candidate
    autonomy: auto
  - {name: observe, playbook: none, autonomy: observe}
""",
        "isolate.yaml",
    )
    for chosen in (policy, default_policy()):
        decision = decide(chosen, facts, NOW)
        assert HOST not in [t.value for t in decision.targets]
        assert passed_over(decision)[HOST] == (Exclusion.PROTECTED, f"protected asset ceo-laptop (ip {HOST}/32)")
        assert decision.autonomy is Autonomy.OBSERVE


def test_auto_without_a_live_hit_on_every_target_asks_for_approval() -> None:
    policy = load_policy(
        """
name: eager
rules:
  - name: isolate-source
    targets: [{role: src, ours: true}]
    playbook: contain-malware-host
    autonomy: auto
    duration: 4h
""",
        "eager.yaml",
    )
    decision = decide(policy, beacon(verdict(C2)), NOW)
    assert (decision.autonomy, decision.deadline, decision.on_timeout) == (Autonomy.APPROVE, timedelta(hours=1), "deny")
    assert decision.notes == [
        f"auto needs a live TI hit on every target ({HOST} has none): asking for approval instead"
    ]
    assert decision.duration == timedelta(hours=4)  # no verdict to cap it


@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.1.1", "fe80::1"])
def test_local_addresses_are_never_targets(address: str) -> None:
    inventory = AssetInventory(internal_networks=NETWORKS)
    facts = PolicyFacts(
        severity=Severity.CRITICAL,
        candidates=[BEACON_PLAYBOOK],
        observables=[seen(inventory, "ip", address, "dest", verdict(address))],
    )
    decision = decide(default_policy(), facts, NOW)
    assert decision.targets == [] and passed_over(decision)[address][0] is Exclusion.LOCAL


def test_an_expired_hit_is_no_hit() -> None:
    decision = decide(default_policy(), beacon(verdict(C2, expires_in=timedelta(seconds=-5))), NOW)
    assert decision.autonomy is Autonomy.OBSERVE
    assert "the TI hit expired at" in decision.rules_passed_over[0].reason


def test_the_decision_round_trips_as_history_carries_it() -> None:
    decision = decide(default_policy(), beacon(verdict(C2, expires_in=timedelta(hours=3))), NOW)
    again = PolicyDecision.model_validate_json(decision.model_dump_json())
    assert again == decision
    assert decision.policy_sha256 == default_policy().sha256


def test_misspelt_policy_keys_are_named_on_one_line() -> None:
    path = DATA / "policy" / "misspelt-policy.yaml"
    with pytest.raises(ResponsePolicyInvalid) as caught:
        load_policy(path.read_text(encoding="utf-8"), path.name)
    assert str(caught.value) == (
        "misspelt-policy.yaml: "
        "rule 'block-c2' field 'when.severty': unknown field (did you mean 'severity_at_least'?); "
        "rule 'block-c2' field 'targets[0].scroe_at_least': unknown field (did you mean 'score_at_least'?)"
    )


RULE = "name: p\nrules:\n  - name: r\n    playbook: candidate\n"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (RULE + "    autonomy: sometimes\n", "p.yaml: rule 'r' field 'autonomy': expected 'observe', 'recommend'"),
        (
            RULE + "    autonomy: auto\n    deadline: 1h\n",
            "p.yaml: rule 'r' field 'deadline': only for autonomy approve",
        ),
        (
            RULE + "    autonomy: observe\n",
            "p.yaml: rule 'r' field 'playbook': autonomy observe runs nothing: say playbook: none",
        ),
        (
            RULE + "    autonomy: auto\n    targets: [{protected: true}]\n",
            "p.yaml: rule 'r' field 'targets[0].protected': is never a target, whatever the policy says",
        ),
        (
            RULE + "    autonomy: approve\n    when: {severity_at_least: loud}\n",
            "p.yaml: rule 'r' field 'when.severity_at_least': expected one of informational|low|medium",
        ),
        (RULE + "    autonomy: auto\n    duration: 90d\n", "p.yaml: rule 'r' field 'duration': at most 30d"),
        (
            RULE + "    autonomy: auto\n    when: {techniques: [C2]}\n",
            "p.yaml: rule 'r' field 'when.techniques[0]': 'C2' is not",
        ),
        ("name: p\nrules: []\n", "p.yaml: field 'rules': must have at least 1 item(s)"),
        ("rules:\n  - {name: o, playbook: none, autonomy: observe}\n", "p.yaml: field 'name': missing required field"),
    ],
)
def test_policy_errors_name_file_rule_and_field(text: str, says: str) -> None:
    with pytest.raises(ResponsePolicyInvalid) as caught:
        load_policy(text, "p.yaml")
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(says)


def test_unknown_playbook_ids_are_checked_against_the_catalog() -> None:
    policy = load_policy(
        "name: p\nrules:\n  - {name: block, playbook: contain-malicous-ip, autonomy: auto}\n", "p.yaml"
    )
    with pytest.raises(ResponsePolicyInvalid) as caught:
        check_playbooks(policy, ["contain-malicious-ip", "notify-soc"])
    assert str(caught.value) == (
        "p.yaml: rule 'block' field 'playbook': unknown playbook 'contain-malicous-ip' "
        "(did you mean 'contain-malicious-ip'?)"
    )
