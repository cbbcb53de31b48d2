"""Response planning: from what we know about an incident to what to do about it.

A playbook from the catalog when one applies (services/playbook_selection), pinned into the plan; otherwise the
built-in plan: notify every configured SOC channel.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from xorb_orchestrator.models.plan import Plan, PlannedStep
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.models.workflow_io import PlanInput
from xorb_orchestrator.policy.playbook_selection import Selection

NOTIFY_ACTION = "notify.webhook"
NOTIFY_PLAYBOOK = "notify-soc"


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
