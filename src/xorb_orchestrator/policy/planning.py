"""Response planning: from what we know about an incident to what to do about it.

The response policy (policy/response_policy.py) decides which playbook, on which targets and how autonomously;
this module turns its decision into a plan. `approve` and `auto` run the playbook, pinned with its inputs filled
from the decision's targets by type and role; `recommend` and `observe` run the built-in plan (notify every SOC
channel), whose message carries the decision. Every incident is announced to the SOC either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from xorb_orchestrator.models.plan import PinnedPlaybook, Plan, PlannedStep
from xorb_orchestrator.models.response_plan import Autonomy, PolicyDecision
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.models.workflow_io import PlanInput
from xorb_orchestrator.playbook import ApprovalStep, InputError, Playbook, format_duration
from xorb_orchestrator.policy.playbook_selection import (
    Selection,
    configured_inputs,
    inputs_from_targets,
    targets_for_inputs,
    wrong_side,
)

NOTIFY_ACTION = "notify.webhook"
NOTIFY_PLAYBOOK = "notify-soc"
DURATION_INPUT = "duration"  # a playbook declaring it gets the containment's duration, e.g. "24h"
RUNS = (Autonomy.APPROVE, Autonomy.AUTO)


def plan_response(request: PlanInput, webhook_urls: list[str], selection: Selection | None = None) -> Plan:
    """The plan: the selected playbook, else the built-in notify plan (saying which playbooks were passed over)."""
    if selection is not None and selection.pinned is not None and selection.match is not None:
        pinned = selection.pinned
        severity = Severity(request.severity_id)
        return Plan(
            playbook=pinned.playbook.id,
            rationale=(
                f"{severity.label} incident; playbook {pinned.playbook.id} ({pinned.playbook.name}) covers "
                f"{selection.match.describe()}"
            ),
            playbook_sha256=pinned.playbook_sha256,
            inputs=pinned.inputs,
            considered=selection.passed_over,
            run=pinned,
        )
    plan = notify_plan(request, webhook_urls)
    plan.considered = selection.passed_over if selection is not None else []
    return plan


def plan_from_decision(
    request: PlanInput,
    webhook_urls: list[str],
    decision: PolicyDecision,
    catalog: Mapping[str, Playbook],
    configured: Mapping[str, Mapping[str, Any]],
    *,
    allowed: frozenset[str] | None = None,
    mutating_actions: Iterable[str] = (),
    connectors: Mapping[str, str] | None = None,
    connected: frozenset[str] | None = None,
) -> Plan:
    """The plan the policy's decision calls for. Where the playbook cannot run as decided (not allowed to run on
    its own, no approval to ask under `approve`, inputs missing, a tool it calls with no connection), the decision
    becomes a recommendation and the plan says why. `connectors` maps connector actions to their connector type;
    `connected` names the types XORB_CONNECTORS_FILE has a connection for (None: not checked)."""
    considered: list[str] = []
    if decision.autonomy in RUNS and decision.playbook is not None:
        playbook = catalog.get(decision.playbook)
        refusal = _refusal(decision, playbook, allowed) or _unconnected(playbook, catalog, connectors, connected)
        if refusal is None and playbook is not None:
            configured_here = configured_inputs(playbook, configured)
            refusal = wrong_side(playbook, targets_for_inputs(playbook, decision.targets, configured_here))
        if refusal is None and playbook is not None:
            given = inputs_from_targets(playbook, decision.targets, configured_here)
            if DURATION_INPUT in playbook.inputs and decision.duration is not None:
                given.setdefault(DURATION_INPUT, format_duration(decision.duration))
            try:
                pinned = PinnedPlaybook.pin(
                    playbook, inputs=given, catalog=catalog, mutating_actions=mutating_actions
                ).model_copy(update={"autonomy": decision.autonomy})
            except InputError as exc:
                refusal = f"{exc} (set it in XORB_PLAYBOOK_INPUTS, or the policy's targets must provide it)"
            else:
                return Plan(
                    playbook=pinned.playbook.id,
                    rationale=decision.summary,
                    playbook_sha256=pinned.playbook_sha256,
                    inputs=pinned.inputs,
                    run=pinned,
                    decision=decision,
                )
        note = f"playbook {decision.playbook} not run ({decision.autonomy.value}): {refusal}; recommended instead"
        decision = decision.model_copy(update={"autonomy": Autonomy.RECOMMEND, "notes": [*decision.notes, note][-10:]})
        considered.append(note)
    plan = notify_plan(request, webhook_urls)
    plan.rationale = decision.summary or plan.rationale
    plan.decision, plan.considered = decision, considered
    return plan


def _refusal(decision: PolicyDecision, playbook: Playbook | None, allowed: frozenset[str] | None) -> str | None:
    if playbook is None:
        return "it is not in the playbook catalog (XORB_PLAYBOOKS_DIR) or failed to load"
    if allowed is not None and playbook.id not in allowed:
        return "it is not in XORB_AUTO_PLAYBOOKS"
    asks = any(isinstance(placement.step, ApprovalStep) for placement in playbook.walk())
    if decision.autonomy is Autonomy.APPROVE and not asks:
        return "the policy says a person approves, and the playbook asks nobody"
    return None


def _unconnected(
    playbook: Playbook | None,
    catalog: Mapping[str, Playbook],
    connectors: Mapping[str, str] | None,
    connected: frozenset[str] | None,
) -> str | None:
    """Why the playbook (or a playbook it runs) cannot reach its tools: a connector action with no connection."""
    if playbook is None or connectors is None or connected is None:
        return None
    pending, seen, missing = [playbook], set(), set[str]()
    while pending:
        current = pending.pop()
        seen.add(current.id)
        for placement in current.walk():
            step = placement.step
            actions = [getattr(step, "action", None), step.compensate.action if step.compensate else None]
            for action in actions:
                kind = connectors.get(action) if isinstance(action, str) else None
                if kind is not None and kind not in connected:
                    missing.add(kind)
            child = getattr(step, "playbook", None)
            if isinstance(child, str) and child in catalog and child not in seen:
                pending.append(catalog[child])
    if not missing:
        return None
    return f"XORB_CONNECTORS_FILE has no connection for the tools it calls ({', '.join(sorted(missing))})"


def notify_plan(request: PlanInput, webhook_urls: list[str]) -> Plan:
    """Notify every configured channel. With none configured, one step that will record why it skipped.

    Only the webhook's index and host go into the plan: the URL itself is a secret (Slack's carry
    the token in the path) and the plan is stored in Temporal's history.
    """
    severity = Severity(request.severity_id)
    external = len(request.enrichment.external)
    rationale = (
        f"{severity.label} incident with {len(request.observables)} observable(s), {external} external; notify the SOC"
    )
    targets: list[tuple[int | None, str]] = [
        (index, urlsplit(url).hostname or "webhook") for index, url in enumerate(webhook_urls)
    ] or [(None, "none configured")]
    steps = [
        PlannedStep(
            id=f"notify-{n + 1}",
            action=NOTIFY_ACTION,
            args={"webhook": index, "host": host},
            reason=f"tell the SOC channel at {host} about the {severity.label} incident",
        )
        for n, (index, host) in enumerate(targets)
    ]
    return Plan(playbook=NOTIFY_PLAYBOOK, rationale=rationale, steps=steps)
