"""Reading a request body safely: content type, size limit, well-formed JSON or NDJSON."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from xorb_orchestrator.api.errors import ApiError

JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq")


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, max_bytes: int, types: tuple[str, ...]) -> tuple[str, bytes]:
    """The body and its media type, once the type is allowed and the size within the limit."""
    media = _media_type(request)
    if media not in types and not (media.startswith("application/") and media.endswith("+json")):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type must be {' or '.join(types)}, got {media or 'none'!r}",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks, size = [], 0
    async for chunk in request.stream():  # counted as it arrives: a lying Content-Length cannot slip past
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiError(400, "empty_body", "request body is empty; send a JSON object")
    return media, raw


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}") from None


async def read_json(request: Request, max_bytes: int, *, types: tuple[str, ...] = JSON_TYPES) -> Any:
    _, raw = await read_body(request, max_bytes, types)
    return parse_json(raw)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request body exceeds the limit of {limit} bytes (XORB_ALERT_MAX_BYTES)")
