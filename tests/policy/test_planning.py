"""From the policy's decision to the plan: the playbook pinned with inputs from its targets only, on the side each
input takes, and every case where it cannot run as decided becomes a recommendation that says why."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support.paths import ROOT
from xorb_orchestrator.config.settings import DEFAULT_INTERNAL_NETWORKS, parse_networks
from xorb_orchestrator.models.observable import Observable, ObservableType
from xorb_orchestrator.models.response_plan import Autonomy, PolicyDecision, Scope, TargetChoice
from xorb_orchestrator.models.workflow_io import PlanInput
from xorb_orchestrator.playbook import parse_playbook_text
from xorb_orchestrator.playbook.catalog import load_usable
from xorb_orchestrator.policy.assets import AssetInventory
from xorb_orchestrator.policy.enrichment import enrich
from xorb_orchestrator.policy.planning import plan_from_decision
from xorb_orchestrator.service import action_catalog

CATALOG = load_usable(ROOT / "playbooks", action_catalog().flags())[0].playbooks()
FIREWALL = {"contain-malicious-ip": {"firewall": "edge-gw"}}
C2 = TargetChoice(type=ObservableType.IP, value="203.0.113.10", role="dest", scope=Scope.EXTERNAL, live_hit=True)
WORKSTATION = TargetChoice(type=ObservableType.IP, value="10.0.0.5", role="src", scope=Scope.INTERNAL, live_hit=True)


def request() -> PlanInput:
    observables = [
        Observable(type=ObservableType.IP, value="10.0.0.5", role="src"),
        Observable(type=ObservableType.IP, value="203.0.113.10", role="dest"),
    ]
    inventory = AssetInventory((), parse_networks(DEFAULT_INTERNAL_NETWORKS))
    return PlanInput(
        incident_id="incident-" + "0" * 24,
        title="Outbound C2 beacon",
        severity_id=4,
        observables=observables,
        techniques=["T1071.001"],
        enrichment=enrich(observables, inventory),
    )


def decision(autonomy: Autonomy, *targets: TargetChoice, playbook: str = "contain-malicious-ip") -> PolicyDecision:
    return PolicyDecision(
        policy="test",
        policy_sha256="0" * 64,
        rule="r",
        autonomy=autonomy,
        playbook=playbook,
        targets=list(targets),
        duration=timedelta(hours=6),
        summary=f"{autonomy.value}: rule 'r' matched",
    )


def test_the_playbook_runs_on_the_targets_of_the_decision_and_never_the_first_address() -> None:
    plan = plan_from_decision(request(), [], decision(Autonomy.AUTO, C2), CATALOG, FIREWALL)
    assert plan.run is not None and plan.playbook == "contain-malicious-ip"
    assert plan.inputs["ip"] == "203.0.113.10"  # the alert's first address is the workstation
    assert plan.run.autonomy is Autonomy.AUTO and plan.decision is not None
    assert plan.rationale == "auto: rule 'r' matched"


def test_an_internal_address_never_fills_an_input_that_takes_an_external_one() -> None:
    plan = plan_from_decision(request(), [], decision(Autonomy.APPROVE, WORKSTATION), CATALOG, FIREWALL)
    assert plan.run is None and plan.playbook == "notify-soc"
    assert plan.decision is not None and plan.decision.autonomy is Autonomy.RECOMMEND
    assert plan.decision.notes[-1] == (
        "playbook contain-malicious-ip not run (approve): its input 'ip' takes an external target, and 10.0.0.5 is "
        "internal; recommended instead"
    )


@pytest.mark.parametrize(
    ("reason", "playbook", "configured", "allowed"),
    [
        ("it is not in XORB_AUTO_PLAYBOOKS", "contain-malicious-ip", FIREWALL, frozenset({"block-phishing-url"})),
        ("missing required input 'hostname'", "contain-malware-host", {}, None),
        ("not in the playbook catalog", "no-such-playbook", FIREWALL, None),
    ],
)
def test_what_cannot_run_as_decided_is_recommended_with_the_reason(
    reason: str, playbook: str, configured: dict[str, Any], allowed: frozenset[str] | None
) -> None:
    chosen = decision(Autonomy.AUTO, C2, playbook=playbook)
    plan = plan_from_decision(request(), [], chosen, CATALOG, configured, allowed=allowed)
    assert plan.run is None and plan.decision is not None
    assert plan.decision.autonomy is Autonomy.RECOMMEND and reason in plan.decision.notes[-1]


def test_approve_needs_a_playbook_that_asks_someone() -> None:
    silent = parse_playbook_text(
        "id: block-silently\nname: Block\nversion: '1'\ninputs: {ip: {type: string, required: true}}\n"
        "steps: [{id: b, action: http.request, args: {method: POST, url: 'https://fw/${{ inputs.ip }}'}}]\n",
        "yaml",
    )
    chosen = decision(Autonomy.APPROVE, C2, playbook="block-silently")
    plan = plan_from_decision(request(), [], chosen, {**CATALOG, "block-silently": silent}, {})
    assert plan.run is None and plan.decision is not None
    assert "the policy says a person approves, and the playbook asks nobody" in plan.decision.notes[-1]
    assert plan_from_decision(request(), [], decision(Autonomy.AUTO, C2, playbook="block-silently"),
                              {"block-silently": silent}, {}).run is not None  # fmt: skip


def test_observe_and_recommend_run_nothing_but_carry_the_decision() -> None:
    for autonomy in (Autonomy.OBSERVE, Autonomy.RECOMMEND):
        plan = plan_from_decision(request(), ["https://hooks.example/x"], decision(autonomy, C2), CATALOG, FIREWALL)
        assert plan.run is None and [s.action for s in plan.steps] == ["notify.webhook"]
        assert plan.decision is not None and plan.decision.autonomy is autonomy


def test_a_playbook_whose_tool_has_no_connection_is_recommended_not_run() -> None:
    through_openc2 = parse_playbook_text(
        "id: block-openc2\nname: Block\nversion: '1'\ninputs: {ip: {type: string, required: true}}\n"
        "steps: [{id: b, action: openc2.deny, args: {address: '${{ inputs.ip }}'}}]\n",
        "yaml",
    )
    catalog = {"block-openc2": through_openc2}
    connectors = {"openc2.deny": "openc2-slpf", "openc2.delete": "openc2-slpf"}
    chosen = decision(Autonomy.AUTO, C2, playbook="block-openc2")
    plan = plan_from_decision(request(), [], chosen, catalog, {}, connectors=connectors, connected=frozenset())
    assert plan.run is None and plan.decision is not None
    assert "XORB_CONNECTORS_FILE has no connection for the tools it calls (openc2-slpf)" in plan.decision.notes[-1]
    connected = frozenset({"openc2-slpf"})
    plan = plan_from_decision(request(), [], chosen, catalog, {}, connectors=connectors, connected=connected)
    assert plan.run is not None and plan.inputs == {"ip": "203.0.113.10"}
