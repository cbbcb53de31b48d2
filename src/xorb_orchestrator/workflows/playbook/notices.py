"""Telling the SOC channel about an approval: when it is asked (what, why, who, by when, what happens then) and how
it ended. Best effort — a chat outage must not fail a response — through the notify.approval action."""

from __future__ import annotations

import json
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.models.incident import IncidentView
    from xorb_orchestrator.models.playbook_run import GatedRequest
    from xorb_orchestrator.playbook import ApprovalStep
    from xorb_orchestrator.workflows import patches
    from xorb_orchestrator.workflows.playbook.actions import call_action, temporal_retry
    from xorb_orchestrator.workflows.playbook.approvals import PendingApproval

NOTICE_ATTEMPTS = 3


async def tell_asked(
    key: str,
    incident: IncidentView,
    step: ApprovalStep,
    message: str,
    requests: list[GatedRequest],
    round_number: int = 0,
) -> None:
    """Round 0: the approval starts; a later round: it escalated to that round's approvers."""
    first = step.approval.rounds()[round_number]
    sends = "; ".join(f"{r.action} {json.dumps(r.args, sort_keys=True)}" for r in requests)
    args: dict[str, Any] = {
        "event": "asked",
        "step": step.id,
        "message": (f"(escalated: nobody decided in time) {message}" if round_number else message)[:3000],
        "why": (incident.plan.rationale if incident.plan else "")[:1500],
        "sends": sends[:1500],
        "roles": first.approvers.roles[:20],
        "people": first.approvers.people[:20],
        "deadline": (workflow.now() + first.timeout).isoformat(),
        "on_timeout": first.on_timeout.value,
    }
    await _tell(f"{key}/asked" + (f"-{round_number}" if round_number else ""), incident, args)


async def tell_decided(key: str, incident: IncidentView, step_id: str, pending: PendingApproval) -> None:
    event = "expired" if pending.timed_out else pending.outcome
    if event == "pending":
        return
    approvers = ", ".join(pending.approvers)
    outcome = pending.reason or (f"by {approvers}" if approvers else "")
    await _tell(f"{key}/{event}", incident, {"event": event, "step": step_id, "outcome": outcome[:1000]})


def notices_on() -> bool:
    return workflow.patched(patches.APPROVAL_NOTICES.id)


async def _tell(key: str, incident: IncidentView, args: dict[str, Any]) -> None:
    try:
        await call_action(
            "notify.approval",
            key=key,
            args=args,
            incident=incident,
            timeout=None,
            retry=temporal_retry(None, default_attempts=NOTICE_ATTEMPTS),
            dry_run=False,
        )
    except ActivityError as err:
        workflow.logger.warning("approval notice %s not sent: %s", key, err)
