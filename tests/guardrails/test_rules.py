"""The pure parts of the guardrails: XORB_BUDGETS parsing, the budget ledger's counting (once per step, windows,
approved overruns counted), the target checks against the inventory, and the effect metadata actions declare."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from xorb_orchestrator.config import SettingsError, budgets, load_settings
from xorb_orchestrator.config.budgets import parse_budgets
from xorb_orchestrator.models.guardrails import EffectClaim, EffectKind, TargetKind
from xorb_orchestrator.playbook import effects
from xorb_orchestrator.playbook.actions import ActionArgs, ActionSpec
from xorb_orchestrator.policy.assets import Asset, AssetInventory, parse_network
from xorb_orchestrator.policy.budgets import BudgetLedger, budgets_of
from xorb_orchestrator.policy.guardrails import known_good_refusal, target_refusal
from xorb_orchestrator.service import action_catalog

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
INVENTORY = AssetInventory(
    [
        Asset(
            name="dc",
            ips=["10.1.0.10"],
            hosts=["dc01.corp.example"],
            users=["admin@corp.example"],
            devices=["ABCDEF0123456789ABCDEF0123456789"],
            protected=True,
        ),
        Asset(name="web", ips=["198.51.100.0/28"]),
    ],
    [parse_network("10.0.0.0/8")],
)


def test_budgets_parse_and_misspellings_name_the_known_kinds() -> None:
    specs = parse_budgets("all=100/1h, block=20/1h , target:user=5/1d")
    assert [(s.scope, s.name, s.limit, s.window_seconds) for s in specs] == [
        ("all", "all", 100, 3600), ("effect", "block", 20, 3600), ("target", "user", 5, 86_400)
    ]  # fmt: skip
    assert parse_budgets("") == []
    for bad, said in [("blok=2/1h", "unknown budget 'blok' (known: all, block"), ("block=2", "expected <what>="),
                      ("block=2/1h,block=3/1h", "given twice"), ("block=2/8d", "between 1s and 7d")]:  # fmt: skip
        with pytest.raises(ValueError, match=said.replace("(", r"\(")):
            parse_budgets(bad)
    with pytest.raises(SettingsError, match="XORB_BUDGETS"):
        load_settings(XORB_BUDGETS="isolte=3/1h")


def claim(key: str, effect: EffectKind | None = EffectKind.BLOCK, **more: object) -> EffectClaim:
    budgets = budgets_of(parse_budgets("block=2/1h, all=3/1h"))
    return EffectClaim(key=key, action="openc2.deny", incident_id="i", effect=effect, target_kind=TargetKind.IP,
                       budgets=budgets, **more)  # type: ignore[arg-type]  # fmt: skip


def test_the_ledger_counts_each_step_once_and_forgets_outside_the_window() -> None:
    ledger = BudgetLedger()
    for key in ("a", "b"):
        assert ledger.over(claim(key), NOW) is None
        ledger.record(claim(key), NOW)
    assert ledger.claimed("a") and not ledger.claimed("c")
    over = ledger.over(claim("c"), NOW)
    assert over is not None and (over.budget.name, over.used) == ("block", 2)
    assert over.budget.label() == "2 block effects per 1h"
    isolate = claim("d", EffectKind.ISOLATE)
    assert ledger.over(isolate, NOW) is None  # `all` has room for one more
    ledger.record(isolate, NOW)
    assert ledger.over(claim("e", EffectKind.ISOLATE), NOW) is not None  # now `all` is spent
    assert ledger.over(claim("f", None), NOW) is None  # no containment: no budget applies
    later = NOW + timedelta(hours=1)
    assert ledger.over(claim("g"), later) is None  # the window moved on
    ledger.prune(later, timedelta(hours=1))
    assert ledger.entries == []


def test_targets_that_are_or_reach_protected_assets_are_refused() -> None:
    def why(kind: str, value: str) -> str | None:
        verdict = target_refusal(kind, value, INVENTORY)
        return verdict.reason if verdict else None

    assert why("ip", "10.1.0.10") == "10.1.0.10 reaches protected asset 'dc' (10.1.0.10/32)"
    assert why("ip", "10.0.0.0/8") == "10.0.0.0/8 reaches protected asset 'dc' (10.1.0.10/32)"
    assert why("ip", "::1") is not None and "never leaves its host" in (why("ip", "127.0.0.1") or "")
    assert why("ip", "10.2.0.1") is None and why("ip", "198.51.100.3") is None  # ours, but not protected
    assert why("host", "abcdef0123456789abcdef0123456789") == (
        "host abcdef0123456789abcdef0123456789 is protected asset 'dc' (device abcdef0123456789abcdef0123456789)"
    )
    assert why("host", "dc01") == "host dc01 is protected asset 'dc' (host dc01.*)"
    assert why("user", "Admin@corp.example") is not None and why("user", "bob@corp.example") is None
    refused = known_good_refusal("ip", "192.0.2.1", ["partners", "cdn"])
    assert refused is not None and refused.reason == "ip 192.0.2.1 is known good (cdn, partners)"
    assert known_good_refusal("ip", "192.0.2.1", []) is None


def test_the_kinds_are_the_same_everywhere() -> None:
    assert set(budgets.EFFECT_KINDS) == set(effects.EFFECT_KINDS) == {kind.value for kind in EffectKind}
    assert set(budgets.TARGET_KINDS) == set(effects.TARGET_KINDS) == {kind.value for kind in TargetKind}


def test_containment_actions_declare_their_effect_and_target() -> None:
    declared = {s.name: (s.effect, s.target, s.target_kind) for s in action_catalog().specs() if s.effect}
    assert declared == {
        "crowdstrike.contain": ("isolate", "device_id", "host"),
        "defender.isolate": ("isolate", "machine_id", "host"),
        "entra.disable_user": ("disable_account", "user", "user"),
        "entra.revoke_sessions": ("sign_out", "user", "user"),
        "nftables.block": ("block", "address", "ip"),
        "okta.clear_sessions": ("sign_out", "user", "user"),
        "okta.suspend_user": ("disable_account", "user", "user"),
        "openc2.deny": ("block", "address", "ip"),
        "wazuh.block_ip": ("block", "address", "ip"),
    }
    informs = sorted(s.name for s in action_catalog().specs() if s.informs)
    assert informs == ["notify.approval", "notify.webhook", "teams.post_card"]

    class Args(ActionArgs):
        address: str

    with pytest.raises(ValueError, match="target 'adress' is not one of its arguments"):
        ActionSpec(name="x.block", description="", args=Args, mutating=True, effect="block", target="adress",
                   target_kind="ip")  # fmt: skip
    with pytest.raises(ValueError, match="effect 'nuke' is not one of"):
        ActionSpec(name="x.nuke", description="", args=Args, mutating=True, effect="nuke")
