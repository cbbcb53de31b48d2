"""Which playbook an incident's plan names: ATT&CK tags against techniques, inputs from observables and the
deployment's settings, and the reasons a matching playbook was passed over. Pure: no Temporal."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.playbook_runs import playbook
from xorb_orchestrator.config import SettingsError, load_settings
from xorb_orchestrator.models.enrichment import Enrichment
from xorb_orchestrator.models.observable import Observable, ObservableType
from xorb_orchestrator.models.workflow_io import PlanInput
from xorb_orchestrator.playbook.catalog import load_catalog, load_usable
from xorb_orchestrator.policy.planning import plan_response
from xorb_orchestrator.policy.playbook_selection import choose_playbook
from xorb_orchestrator.service import action_catalog

BUNDLED = ROOT / "playbooks"


def tagged(playbook_id: str, *tags: str, inputs: str = "") -> str:
    return f"""
id: {playbook_id}
name: {playbook_id}
version: "1"
tags: [{", ".join(tags)}]
inputs: {{{inputs}}}
steps:
  - {{id: note, action: data.set, args: {{x: 1}}}}
"""


CATALOG = {
    p.id: p
    for p in (
        playbook(tagged("c2-generic", "T1071")),
        playbook(tagged("c2-web", "T1071.001")),
        playbook(tagged("c2-web-and-dns", "T1071.001", "T1071.004")),
        playbook(tagged("phishing", "T1566", "phishing")),
        playbook(
            tagged(
                "needs-firewall",
                "T1571",
                inputs="src_ip: {type: string, required: true}, fw: {type: string, required: true}",
            )
        ),
    )
}
SRC = Observable(type=ObservableType.IP, value="203.0.113.9", role="src")


def chosen(techniques: list[str], **kwargs: object) -> str | None:
    selection = choose_playbook(techniques, [SRC], CATALOG, kwargs.pop("configured", {}), **kwargs)  # type: ignore[arg-type]
    return selection.pinned.playbook.id if selection.pinned else None


def test_the_most_specific_match_wins() -> None:
    assert chosen(["T1071.001", "T1071.004"]) == "c2-web-and-dns"  # two exact matches
    assert chosen(["T1071.001"]) == "c2-web"  # one exact; tie with c2-web-and-dns broken by id
    assert chosen(["T1071.003"]) == "c2-generic"  # covered by its parent technique only
    assert chosen(["t1566"]) == "phishing"  # technique ids are not case-sensitive
    assert chosen(["T1059"]) is None  # nothing covers it
    assert chosen([]) is None


def test_a_playbook_missing_a_required_input_is_passed_over_with_the_reason() -> None:
    selection = choose_playbook(["T1571"], [SRC], CATALOG, {})
    assert selection.pinned is None
    assert selection.passed_over == [
        "needs-firewall: matched T1571 but missing required input 'fw' (set it in XORB_PLAYBOOK_INPUTS, or send "
        "it as an observable)"
    ]
    configured = {"*": {"fw": "https://fw.example", "unrelated": 1}}
    selection = choose_playbook(["T1571"], [SRC], CATALOG, configured)
    assert selection.pinned is not None
    assert selection.pinned.inputs == {"src_ip": "203.0.113.9", "fw": "https://fw.example"}
    # A misspelt input in the playbook's own entry is reported, not ignored.
    selection = choose_playbook(["T1571"], [SRC], CATALOG, {"needs-firewall": {"fw": "x", "fww": "y"}})
    assert selection.pinned is None and "unknown input 'fww'" in selection.passed_over[0]


def test_only_allowed_playbooks_respond_on_their_own() -> None:
    assert chosen(["T1071.001"], allowed=frozenset({"c2-generic"})) == "c2-generic"
    selection = choose_playbook(["T1071.001"], [SRC], CATALOG, {}, allowed=frozenset())
    assert selection.pinned is None
    assert selection.passed_over[0] == "c2-web: matched T1071.001 but is not in XORB_AUTO_PLAYBOOKS"


def test_the_plan_pins_the_playbook_or_falls_back_to_notifying_with_reasons() -> None:
    request = PlanInput(
        incident_id="incident-x",
        title="Beacon",
        severity_id=4,
        observables=[SRC],
        techniques=["T1071.001"],
        enrichment=Enrichment(),
    )
    plan = plan_response(request, ["https://hooks.example/T/x"], choose_playbook(["T1071.001"], [SRC], CATALOG, {}))
    assert (plan.playbook, plan.steps, plan.inputs) == ("c2-web", [], {})
    assert plan.run is not None
    assert plan.playbook_sha256 == CATALOG["c2-web"].content_sha256() == plan.run.playbook_sha256
    assert plan.rationale == "high incident; playbook c2-web (c2-web) covers T1071.001"
    fallback = plan_response(request, ["https://hooks.example/T/x"], choose_playbook(["T1571"], [SRC], CATALOG, {}))
    assert fallback.playbook == "notify-soc" and fallback.run is None
    assert [s.args for s in fallback.steps] == [{"webhook": 0, "host": "hooks.example"}]
    assert fallback.considered[0].startswith("needs-firewall: matched T1571 but missing required input 'fw'")


def test_the_bundled_playbooks_reach_their_tools_through_connections_not_inputs() -> None:
    catalog = load_catalog(BUNDLED, action_catalog().flags()).playbooks()
    selection = choose_playbook(["T1071.001"], [SRC], catalog, {})
    assert selection.pinned is not None and selection.passed_over == []
    # No tool URL among the inputs: the connection (XORB_CONNECTORS_FILE) says where and with which credentials.
    assert selection.pinned.inputs == {"ip": "203.0.113.9", "firewall": "", "block_for": "24h"}
    configured = {"contain-malicious-ip": {"firewall": "edge-gw"}}
    selection = choose_playbook(["T1071.001"], [SRC], catalog, configured)
    assert selection.pinned is not None
    assert selection.pinned.inputs == {"ip": "203.0.113.9", "firewall": "edge-gw", "block_for": "24h"}


def test_planning_leaves_out_broken_files_and_rereads_edited_ones(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(tagged("good", "T1071"))
    (tmp_path / "broken.yaml").write_text("id: broken\nsteps: []\n")
    catalog, problems = load_usable(tmp_path)
    assert list(catalog) == ["good"] and problems and problems[0].startswith(f"{tmp_path / 'broken.yaml'}: ")
    (tmp_path / "broken.yaml").write_text(tagged("fixed", "T1566"))
    catalog, problems = load_usable(tmp_path)
    assert sorted(catalog) == ["fixed", "good"] and problems == []
    assert load_usable(tmp_path / "missing") == (load_usable(tmp_path / "missing")[0], [])


def test_bad_playbook_settings_are_one_clear_line() -> None:
    with pytest.raises(SettingsError, match="XORB_PLAYBOOK_INPUTS: not valid JSON"):
        load_settings(XORB_PLAYBOOK_INPUTS="{nope")
    with pytest.raises(SettingsError, match="XORB_PLAYBOOK_INPUTS: 'x': expected an object of input names"):
        load_settings(XORB_PLAYBOOK_INPUTS='{"x": 1}')
    settings = load_settings(XORB_AUTO_PLAYBOOKS="a, b", XORB_PLAYBOOK_INPUTS='{"*": {"fw": "u"}}')
    assert settings.auto_playbook_ids == frozenset({"a", "b"})
    assert settings.configured_playbook_inputs == {"*": {"fw": "u"}}
    assert load_settings(XORB_AUTO_PLAYBOOKS="none").auto_playbook_ids == frozenset()
    assert load_settings().auto_playbook_ids is None
