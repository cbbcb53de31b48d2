"""notify.webhook: tell a chat channel (Slack-compatible incoming webhook) about an incident."""

from __future__ import annotations

import httpx
from temporalio import activity

from xorb_orchestrator.activities.actions.notify_message import incident_message
from xorb_orchestrator.activities.actions.support import (
    RunnableAction,
    action_args,
    action_attempt,
    action_error,
    simulated,
)
from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure.webhook import WebhookRejected, WebhookUnavailable, post_notification
from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult
from xorb_orchestrator.playbook.builtin_actions import NOTIFY_WEBHOOK as SPEC

ACTION = SPEC.name


class NotifyActivities:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    @activity.defn(name=ACTION)
    async def notify_webhook(self, request: ActionInput) -> ActionResult:
        attempt = activity.info().attempt
        args = action_args(SPEC, request)
        urls = self._settings.webhook_urls
        if not urls:
            return ActionResult(
                outcome="skipped",
                reason="no webhook configured (set XORB_NOTIFY_WEBHOOK_URLS)",
                attempt=attempt,
            )
        index = 0 if args.webhook is None else args.webhook
        if index >= len(urls):
            raise action_error(
                f"webhook #{index} is no longer configured ({len(urls)} configured)",
                error_type="InvalidInput",
                retryable=False,
            )
        if (result := simulated(SPEC, args, request)) is not None:
            return result
        message = incident_message(request.incident, request.step.id)
        if args.text is not None:
            # The playbook's own words: plain text, without the summary's blocks.
            message = {name: value for name, value in message.items() if name != "blocks"} | {"text": args.text}
        # Keyed by workflow id + step id (not run id) so a receiver can drop a re-delivery.
        key = f"{request.incident_id}/{request.step.id}"
        async with action_attempt(ACTION, request):
            try:
                response = await post_notification(self._http, urls[index], message, key)
            except WebhookRejected as exc:
                raise action_error(str(exc), error_type="ActionRejected", retryable=False) from None
            except WebhookUnavailable as exc:
                raise action_error(str(exc), error_type="ActionUnavailable", retryable=True) from None
        return ActionResult(
            outcome="completed",
            attempt=attempt,
            details={"status": response.status, "host": args.host},
        )


NOTIFY_WEBHOOK = RunnableAction(SPEC, lambda deps: NotifyActivities(deps.settings, deps.http).notify_webhook)
