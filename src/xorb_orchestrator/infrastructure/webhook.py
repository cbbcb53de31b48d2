"""Posting a Slack-compatible notification to a webhook."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass
class WebhookResponse:
    status: int
    body: str


class WebhookRejected(Exception):
    """The receiver answered 4xx: sending the same message again will not help."""


class WebhookUnavailable(Exception):
    """Network error or 5xx/408/429: worth another attempt."""


async def post_notification(
    client: httpx.AsyncClient, url: str, payload: dict[str, object], idempotency_key: str
) -> WebhookResponse:
    try:
        response = await client.post(
            url, json=payload, headers={"Idempotency-Key": idempotency_key, "User-Agent": "xorb-orchestrator"}
        )
    except httpx.HTTPError as exc:
        # Named by its host only: the URL's path is the webhook's secret, and this message is kept in history.
        if isinstance(exc, httpx.TimeoutException):
            what = "no answer in time from"
        elif isinstance(exc, httpx.ConnectError):
            what = "cannot connect to"
        else:
            what = "network error talking to"
        raise WebhookUnavailable(f"{type(exc).__name__}: {what} the webhook at {_host(url)}") from None
    body = response.text[:500]
    if response.status_code in (408, 429) or response.status_code >= 500:
        raise WebhookUnavailable(f"webhook answered {response.status_code}: {body}")
    if response.status_code >= 400:
        raise WebhookRejected(f"webhook answered {response.status_code}: {body}")
    return WebhookResponse(response.status_code, body)


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or "an unknown host"
    except httpx.InvalidURL:
        return "an unknown host"
