"""How a plan's decision reads for a person: `xorb incidents show`, `xorb plan explain` and the console."""

from __future__ import annotations

from typing import Any


def decision_lines(plan: dict[str, Any]) -> list[str]:
    """The plan: what runs, the rule, each target with its evidence, and what was passed over and why."""
    decision = plan.get("decision")
    lines = [f"plan: {plan['playbook']}" + (f" (inputs {plan['inputs']})" if plan.get("inputs") else "")]
    if decision is None:
        return [*lines, f"  why: {plan.get('rationale', '')}"]
    rule = decision.get("rule") or "no rule matched"
    lines.append(f"  autonomy: {decision['autonomy']}   rule: {rule}   policy: {decision['policy']}")
    if decision.get("duration"):
        capped = f" ({decision['duration_capped_by']})" if decision.get("duration_capped_by") else ""
        lines.append(f"  duration: {decision['duration']}{capped}")
    if decision.get("deadline"):
        lines.append(f"  approvers have {decision['deadline']}; no answer means {decision['on_timeout']}")
    for target in decision.get("targets", []):
        role = f" ({target['role']})" if target.get("role") else ""
        where = f"asset {target['asset']}" if target.get("asset") else target["scope"]
        lines.append(f"  target {target['type']} {target['value']}{role}, {where}")
        for evidence in target.get("evidence", []):
            age = f", seen {age_text(evidence['age_days'])}" if evidence.get("age_days") is not None else ""
            state = "live" if evidence["live"] else f"not live: {evidence.get('why_not_live')}"
            lines.append(
                f"    {evidence['source']}: score {evidence['score']} (now {evidence['score_now']}), "
                f"confidence {evidence['confidence']}{age}; {state}"
            )
    for passed in decision.get("observables_passed_over", []):
        role = f" ({passed['role']})" if passed.get("role") else ""
        lines.append(f"  not a target: {passed['type']} {passed['value']}{role}: {passed['reason']}")
    if decision.get("more_passed_over"):
        lines.append(f"  ... and {decision['more_passed_over']} more observables passed over")
    for rule_passed in decision.get("rules_passed_over", []):
        lines.append(f"  rule {rule_passed['rule']} passed over: {rule_passed['reason']}")
    lines.extend(f"  note: {note}" for note in decision.get("notes", []))
    return lines


def observable_lines(enrichment: dict[str, Any] | None) -> list[str]:
    """Each observable: whose it is, its asset and criticality, and the feeds' verdict."""
    if not enrichment:
        return []
    lines = ["observables:"]
    for item in enrichment.get("observables", []):
        asset = item.get("asset") or {}
        role = f" ({item['role']})" if item.get("role") else ""
        where = asset.get("scope", "?")
        if asset.get("asset"):
            where += f", asset {asset['asset']}"
        if asset.get("criticality"):
            where += f", {asset['criticality']}"
        if asset.get("protected"):
            where += ", PROTECTED"
        verdict = item.get("verdict")
        if verdict is None:
            said = "not looked up"
        elif verdict["known_good"]:
            said = "known good"
        elif verdict["hit"]:
            said = f"TI hit, score {verdict['score']} from " + ", ".join(
                f["verdict"]["source"] for f in verdict["sources"] if f["live"]
            )
        else:
            said = "no live verdict" + (f" ({len(verdict['sources'])} expired or weak)" if verdict["sources"] else "")
        lines.append(f"  {item['type']} {item['value']}{role}: {where}; {said}")
    lines.extend(f"  note: {note}" for note in enrichment.get("notes", []))
    return lines


def age_text(days: float) -> str:
    """How long ago, in the unit a person reads at a glance: minutes, hours or days."""
    hours = days * 24
    if hours < 1:
        return f"{max(hours * 60, 0):.0f} min ago"
    return f"{hours:.0f} h ago" if hours < 48 else f"{days:.0f} days ago"
