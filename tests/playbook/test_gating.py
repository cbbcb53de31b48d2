"""The gate check as plain data: a gated step runs only when its approval approved exactly its request."""

from __future__ import annotations

from xorb_orchestrator.playbook.gating import gate_key, gate_refusal

SHOWN = {"method": "POST", "url": "https://idp.example/api/v1/users/ceo/lifecycle/suspend", "headers": {"A": "1"}}


def test_the_request_approved_runs() -> None:
    assert gate_refusal("suspend", "ok", (True, SHOWN), dict(SHOWN)) is None
    reordered = {"headers": {"A": "1"}, "url": SHOWN["url"], "method": "POST"}
    assert gate_refusal("suspend", "ok", (True, SHOWN), reordered) is None


def test_a_request_that_changed_after_approval_is_refused_naming_what_changed() -> None:
    changed = {**SHOWN, "url": "https://idp.example/api/v1/users/ceo/lifecycle/deactivate"}
    assert gate_refusal("suspend", "ok", (True, SHOWN), changed) == (
        "its request differs from the one approval 'ok' showed (changed: url); nothing was sent"
    )
    added = {**SHOWN, "body": {"x": 1}}
    assert "(changed: body)" in (gate_refusal("suspend", "ok", (True, SHOWN), added) or "")


def test_no_approval_or_a_no_refuses_the_step() -> None:
    assert gate_refusal("suspend", "ok", None, SHOWN) == (
        "it runs only after approval 'ok' approved it, and that approval has not run"
    )
    assert gate_refusal("suspend", "ok", (False, SHOWN), SHOWN) == "approval 'ok' did not approve it"


def test_each_loop_item_has_its_own_gate() -> None:
    assert gate_key("isolate", ()) == "isolate"
    assert gate_key("isolate", (0, 3)) == "isolate/0/3"
