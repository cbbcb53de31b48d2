"""The guardrails that never bend: what an action is about to touch, checked against the asset inventory and the
known-good lists right before the call. Pure: the facts (inventory, known-good sources) come from the caller.

A protected asset, a known-good value or an address that never leaves its host is refused whatever the playbook,
policy, API call or person says (an approval cannot lift it); the kill switch, budgets and one-way actions only
hold a call for a person (workflows/guardrails.py, activities/actions/guard.py).
"""

from __future__ import annotations

import ipaddress

from xorb_orchestrator.models.guardrails import GuardrailRule, GuardrailVerdict
from xorb_orchestrator.models.observable import Observable, ObservableType
from xorb_orchestrator.models.response_plan import AssetContext, Scope
from xorb_orchestrator.policy.assets import AssetInventory


def target_refusal(kind: str, value: str, inventory: AssetInventory) -> GuardrailVerdict | None:
    """Why the inventory forbids acting on this target, or None."""
    context = _context(kind, value, inventory)
    if kind == "ip":
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            return None  # the action's own validation names the bad address
        if context.scope is Scope.LOCAL:
            return _refuse(GuardrailRule.PROTECTED, f"{value} never leaves its host or link ({context.matched})")
        inside = inventory.protected_in(network)
        if inside:
            name, listed = inside[0]
            return _refuse(GuardrailRule.PROTECTED, f"{value} reaches protected asset {name!r} ({listed})")
    if context.protected:
        return _refuse(
            GuardrailRule.PROTECTED, f"{kind} {value} is protected asset {context.asset!r} ({context.matched})"
        )
    return None


def known_good_refusal(kind: str, value: str, sources: list[str]) -> GuardrailVerdict | None:
    if not sources:
        return None
    return _refuse(GuardrailRule.KNOWN_GOOD, f"{kind} {value} is known good ({', '.join(sorted(sources))})")


def _context(kind: str, value: str, inventory: AssetInventory) -> AssetContext:
    if kind == "ip":
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            return AssetContext(scope=Scope.UNKNOWN)
        return inventory.ip_context(network.network_address)
    if kind == "host":
        device = inventory.device_context(value)
        return device if device.asset else inventory.host_context(value, external=False)
    observable = {"user": ObservableType.USER, "url": ObservableType.URL}.get(kind)
    if observable is None:
        return AssetContext(scope=Scope.UNKNOWN)
    try:
        return inventory.context(Observable(type=observable, value=value))
    except ValueError:
        return AssetContext(scope=Scope.UNKNOWN)


def _refuse(rule: GuardrailRule, reason: str) -> GuardrailVerdict:
    return GuardrailVerdict(outcome="refuse", rule=rule, reason=reason)
