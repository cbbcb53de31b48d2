"""notify.webhook: tell a chat channel (Slack-compatible incoming webhook) about an incident."""

from __future__ import annotations

import httpx
from temporalio import activity

from xorb_orchestrator.activities.action_support import action_attempt, action_error
from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure.webhook import WebhookRejected, WebhookUnavailable, post_notification
from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult
from xorb_orchestrator.services.notification import incident_message

ACTION = "notify.webhook"


class NotifyActivities:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

    @activity.defn(name=ACTION)
    async def notify_webhook(self, request: ActionInput) -> ActionResult:
        attempt = activity.info().attempt
        index = request.step.args.get("webhook")
        urls = self._settings.webhook_urls
        if index is None:
            return ActionResult(
                outcome="skipped",
                reason="no webhook configured (set XORB_NOTIFY_WEBHOOK_URLS)",
                attempt=attempt,
            )
        if not isinstance(index, int) or not 0 <= index < len(urls):
            raise action_error(
                f"webhook #{index} is no longer configured ({len(urls)} configured)",
                error_type="InvalidInput",
                retryable=False,
            )
        # Keyed by workflow id + step id (not run id) so a receiver can drop a re-delivery.
        key = f"{request.incident_id}/{request.step.id}"
        async with action_attempt(ACTION, request):
            try:
                response = await post_notification(
                    self._http, urls[index], incident_message(request.incident, request.step.id), key
                )
            except WebhookRejected as exc:
                raise action_error(str(exc), error_type="ActionRejected", retryable=False) from None
            except WebhookUnavailable as exc:
                raise action_error(str(exc), error_type="ActionUnavailable", retryable=True) from None
        return ActionResult(
            outcome="completed",
            attempt=attempt,
            details={"status": response.status, "host": request.step.args.get("host", "")},
        )
