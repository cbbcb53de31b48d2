"""Reading tools' answers defensively, and their transport failures as the connector's: shared by every vendor
module, since a tool's JSON may be anything (or nothing) and a timeout is always worth another try."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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


def printable(text: str) -> str:
    """A tool-supplied string fit for a one-line message: printable ASCII, bounded."""
    return "".join(c for c in text if 0x20 <= ord(c) < 0x7F)[:200]
