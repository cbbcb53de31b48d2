"""notify.approval: tell the SOC channel that an approval waits (what, why, who, by when, what happens then, and a
link) or how it ended — so an approval never waits on people who do not know about it."""

from __future__ import annotations

import httpx
from temporalio import activity

from xorb_orchestrator.activities.actions.support import RunnableAction, action_args, action_attempt, action_error
from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure.webhook import WebhookRejected, WebhookUnavailable, post_notification
from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult
from xorb_orchestrator.playbook.builtin_actions import NOTIFY_APPROVAL as SPEC
from xorb_orchestrator.playbook.builtin_actions import ApprovalNoticeArgs

MAX_TEXT = 3000


def notice_text(args: ApprovalNoticeArgs, incident_id: str, title: str, public_url: str) -> str:
    """The message: one short paragraph a person can act on from their phone."""
    where = f"incident {incident_id} ({title})"
    if args.event == "asked":
        who = ", ".join([*(f"role {r}" for r in args.roles), *args.people]) or "anyone allowed"
        by = f" by {args.deadline:%Y-%m-%d %H:%M} UTC (then: {args.on_timeout})" if args.deadline else ""
        lines = [f"Approval needed, {where}: step {args.step}. {args.message}".rstrip()]
        if args.why:
            lines.append(f"Why: {args.why}")
        if args.sends:
            lines.append(f"It sends: {args.sends}")
        lines.append(f"Who: {who}{by}. Decide: xorb incidents approve|deny {incident_id} {args.step}")
    else:
        lines = [
            f"Approval of step {args.step}, {where}: {args.event}" + (f" ({args.outcome})" if args.outcome else "")
        ]
    if public_url:
        lines.append(f"{public_url}/incidents/{incident_id}")  # the console page: decide there with a click
    return "\n".join(lines)[:MAX_TEXT]


class ApprovalNoticeActivities:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    @activity.defn(name=SPEC.name)
    async def notify_approval(self, request: ActionInput) -> ActionResult:
        attempt = activity.info().attempt
        args = action_args(SPEC, request)
        urls = self._settings.webhook_urls
        if not urls or request.dry_run:
            return ActionResult(outcome="skipped", reason="no webhook configured", attempt=attempt)
        text = notice_text(args, request.incident_id, request.incident.title, self._settings.public_url)
        key = f"{request.incident_id}/{request.step.id}"  # a repeat of this notice can be dropped by the receiver
        async with action_attempt(SPEC.name, request):
            try:
                await post_notification(self._http, urls[0], {"text": text}, key)
            except WebhookRejected as exc:
                raise action_error(str(exc), error_type="ActionRejected", retryable=False) from None
            except WebhookUnavailable as exc:
                raise action_error(str(exc), error_type="ActionUnavailable", retryable=True) from None
        return ActionResult(outcome="completed", attempt=attempt)


NOTIFY_APPROVAL = RunnableAction(SPEC, lambda deps: ApprovalNoticeActivities(deps.settings, deps.http).notify_approval)
