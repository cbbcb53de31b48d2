"""Response planning: from what we know about an incident to the ordered steps to take."""

from __future__ import annotations

from urllib.parse import urlsplit

from xorb_orchestrator.models.plan import Plan, PlannedStep
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.models.workflow_io import PlanInput

NOTIFY_ACTION = "notify.webhook"


def plan_response(request: PlanInput, webhook_urls: list[str]) -> Plan:
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
    return Plan(playbook="notify-soc", rationale=rationale, steps=steps)
