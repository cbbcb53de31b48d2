"""http.request: call an HTTP API on a host the operator allowed (XORB_HTTP_ALLOWED_HOSTS).

Retries follow the answer: 4xx (but 408, 425, 429) is ActionRejected, not retried; 5xx, 408, 425, 429, timeouts
and network errors are retried by the step's policy. Redirects are not followed (they could leave the allowlist).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from xorb_orchestrator.activities.actions.guard import Guard, held
from xorb_orchestrator.activities.actions.support import (
    RunnableAction,
    action_args,
    action_attempt,
    action_error,
    simulated,
    stand_in,
)
from xorb_orchestrator.config import Settings
from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult
from xorb_orchestrator.playbook.builtin_actions import HTTP_REQUEST as SPEC
from xorb_orchestrator.playbook.builtin_actions import HttpRequestArgs

ACTION = SPEC.name
# The result is kept in Temporal's history: bodies above this are not kept (body_truncated: true).
MAX_BODY_BYTES = 64 * 1024
MAX_TEXT_CHARS = 4096
KEPT_HEADERS = ("content-type", "content-length", "location", "etag", "last-modified", "retry-after", "x-request-id")
RETRYABLE_STATUS = (408, 425, 429)


def _dry_run_warning(args: HttpRequestArgs, warning: str) -> ActionResult:
    return stand_in(args, f"dry run: {warning}", warning)


def refusal(url: str, allowed: list[tuple[str, int | None]]) -> str | None:
    """Why `url` may not be called under XORB_HTTP_ALLOWED_HOSTS, or None when it may."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if any(host == name and allowed_port in (None, port) for name, allowed_port in allowed):
        return None
    shown = f"[{host}]" if ":" in host else host
    target = f"{shown}:{port}" if parts.port else shown
    if not allowed:
        return f"{ACTION}: host '{target}' is not allowed: XORB_HTTP_ALLOWED_HOSTS is empty, so no host is"
    listed = ", ".join(name if p is None else f"{name}:{p}" for name, p in allowed)
    return f"{ACTION}: host '{target}' is not in XORB_HTTP_ALLOWED_HOSTS ({listed})"


class HttpRequestActivities:
    def __init__(self, settings: Settings, http: httpx.AsyncClient, guard: Guard | None = None) -> None:
        self._allowed = settings.http_allowed
        self._http = http
        self._guard = guard

    @activity.defn(name=ACTION)
    async def http_request(self, request: ActionInput) -> ActionResult:
        args = action_args(SPEC, request)
        why = refusal(args.url, self._allowed)
        if why is not None:
            if request.dry_run:  # show the whole path, and what a real run would trip on
                return _dry_run_warning(args, f"not called: {why}; a real run would fail here")
            raise action_error(why, error_type="InvalidInput", retryable=False)
        if (result := simulated(SPEC, args, request)) is not None:
            return result
        if (hold := await held(self._guard, SPEC, args, request)) is not None:
            return hold
        if request.dry_run:  # a lookup really runs; when it fails, the dry run says so and goes on
            try:
                return await self._send(args, request)
            except ApplicationError as exc:
                return _dry_run_warning(args, f"the lookup failed: {exc.message}; a real run would fail here")
        return await self._send(args, request)

    async def _send(self, args: HttpRequestArgs, request: ActionInput) -> ActionResult:
        headers = {"User-Agent": "xorb-orchestrator", **args.headers}
        if not any(name.lower() == "idempotency-key" for name in headers):
            # Keyed by workflow id + step id (not run id): a retried POST can be recognised by the receiver.
            headers["Idempotency-Key"] = f"{request.incident_id}/{request.step.id}"
        if args.body_text is not None and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "text/plain; charset=utf-8"  # httpx sets none for raw content
        async with action_attempt(ACTION, request):
            status, kept, body, truncated = await self._call(args, headers)
        if not args.succeeded(status):
            raise _status_error(args, status, body)
        return ActionResult(
            outcome="completed",
            attempt=activity.info().attempt,
            details={"status": status, "headers": kept, "body": body, "body_truncated": truncated},
        )

    async def _call(self, args: HttpRequestArgs, headers: dict[str, str]) -> tuple[int, dict[str, str], Any, bool]:
        where = f"{args.method} {_redacted(args.url)}"
        try:
            async with asyncio.timeout(args.timeout):
                async with self._http.stream(
                    args.method,
                    args.url,
                    headers=headers,
                    # A text body (form data, XML ...) goes as written; else JSON (or none).
                    **(
                        {"content": args.body_text.encode()} if args.body_text is not None else {"json": args.json_body}
                    ),
                    timeout=args.timeout,
                    follow_redirects=False,
                ) as response:
                    raw, truncated = await _read_bounded(response)
        except (TimeoutError, httpx.TimeoutException):
            raise action_error(
                f"{where} timed out after {args.timeout:g}s", error_type="ActionUnavailable", retryable=True
            ) from None
        except httpx.HTTPError as exc:
            raise action_error(
                f"{where} failed: {type(exc).__name__}: {exc}", error_type="ActionUnavailable", retryable=True
            ) from None
        kept = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
        body = None if truncated else _parse_body(raw, response.headers.get("content-type", ""))
        return response.status_code, kept, body, truncated


async def _read_bounded(response: httpx.Response) -> tuple[bytes, bool]:
    """At most MAX_BODY_BYTES of the body; True when there was more (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"", True
    return b"".join(chunks), False


def _parse_body(raw: bytes, content_type: str) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type.lower():
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text[:MAX_TEXT_CHARS]


def _status_error(args: HttpRequestArgs, status: int, body: Any) -> Exception:
    snippet = json.dumps(body) if body is not None and not isinstance(body, str) else body or ""
    expected = ", ".join(map(str, args.expected_status)) or "2xx"
    message = f"{args.method} {_redacted(args.url)} answered {status} (expected {expected})"
    if snippet:
        message += f": {snippet[:300]}"
    retryable = status >= 500 or status in RETRYABLE_STATUS
    return action_error(message, error_type="ActionUnavailable" if retryable else "ActionRejected", retryable=retryable)


def _redacted(url: str) -> str:
    """The URL without its query string, which may carry a token, for messages kept in history and logs."""
    parts = urlsplit(url)
    return parts._replace(query="…" if parts.query else "", fragment="").geturl()


HTTP_REQUEST = RunnableAction(
    SPEC, lambda deps: HttpRequestActivities(deps.settings, deps.http, deps.guard).http_request
)
