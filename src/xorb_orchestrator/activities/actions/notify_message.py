"""The Slack-compatible message an incident notification carries."""

from __future__ import annotations

from typing import Any

from xorb_orchestrator.models.incident import IncidentView


def incident_message(incident: IncidentView, step_id: str) -> dict[str, Any]:
    """A body Slack (and Mattermost, Rocket.Chat, Teams workflows) accept: `text` plus blocks."""
    observables = ", ".join(f"{o.type}={o.value}" for o in incident.observables[:10]) or "none"
    techniques = ", ".join(incident.techniques) or "none"
    text = (
        f"[{incident.severity.upper()}] {incident.title} — incident {incident.incident_id} "
        f"({incident.alert_count} alert(s) from {incident.source})"
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": text[:150]}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Severity*\n{incident.severity}"},
                {"type": "mrkdwn", "text": f"*Rule*\n{incident.rule or '-'}"},
                {"type": "mrkdwn", "text": f"*Observables*\n{observables}"},
                {"type": "mrkdwn", "text": f"*ATT&CK*\n{techniques}"},
            ],
        },
    ]
    decision = incident.plan.decision if incident.plan is not None else None
    if decision is not None:
        # What the response policy decided and why: for `recommend`, the proposed response for a person to take.
        heading = "Recommended response" if decision.autonomy.value == "recommend" else "Response"
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{heading}*\n{decision.summary[:2900]}"}}
        )
    return {
        "text": text,
        "blocks": blocks,
        "incident_id": incident.incident_id,
        "step_id": step_id,
    }
