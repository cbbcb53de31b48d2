"""Reading tools' answers defensively (their JSON, when they ask us to come back), and their transport failures as
the connector's: shared by every vendor module, since a tool's JSON may be anything (or nothing) and a timeout is
always worth another try."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from xorb_orchestrator.connectors.base import ConnectorUnavailable


@contextmanager
def transport_failures(what: str) -> Iterator[None]:
    """A timeout or a broken connection during `what` as ConnectorUnavailable (retried), naming no URL or secret."""
    try:
        yield
    except httpx.TimeoutException:
        raise ConnectorUnavailable(f"{what}: timed out") from None
    except httpx.HTTPError as exc:
        raise ConnectorUnavailable(f"{what}: {type(exc).__name__}") from None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def json_body(response: httpx.Response) -> Any:
    """The answer's JSON, or None when it is empty or not JSON."""
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or {} when it is not one."""
    return as_dict(json_body(response))


def json_objects(response: httpx.Response) -> list[dict[str, Any]]:
    """The objects of the answer's JSON list, or [] when it is not one."""
    return [item for item in as_list(json_body(response)) if isinstance(item, dict)]


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """The seconds (>= 0) the tool asks us to wait, or None: Retry-After (delta-seconds or an HTTP-date), else on a
    429 CrowdStrike's X-RateLimit-RetryAfter or Okta's X-Rate-Limit-Reset (epoch seconds; Okta sends its reset on
    every answer, where it means nothing unless the limit was hit)."""
    now = time.time() if now is None else now
    headers = response.headers
    value = headers.get("retry-after", "").strip()
    if value:
        if value.isdigit():
            return _seconds(value, 0.0)
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000": RFC 9110 dates are always GMT
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - now)
    if response.status_code == 429:
        for name in ("x-ratelimit-retryafter", "x-rate-limit-reset"):
            if value := headers.get(name, "").strip():
                return _seconds(value, now) if value.isdigit() else None
    return None


def _seconds(digits: str, since: float) -> float | None:
    try:
        return max(0.0, float(int(digits)) - since)
    except (ValueError, OverflowError):  # absurdly long digit strings
        return None


def printable(text: str) -> str:
    """A tool-supplied string fit for a one-line message: printable ASCII, bounded."""
    return "".join(c for c in text if 0x20 <= ord(c) < 0x7F)[:200]
