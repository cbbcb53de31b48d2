"""Reading a request body safely: content type, size limit, well-formed JSON or NDJSON."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from xorb_orchestrator.api.errors import ApiError

# Deeper JSON is refused at the door: pydantic (which decodes what the workflows receive) stops at 200 levels, and
# an alert accepted with 202 must never be one the worker cannot read.
MAX_JSON_DEPTH = 64
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
    except RecursionError:
        raise ApiError(400, "too_deep", f"request body nests deeper than {MAX_JSON_DEPTH} levels") from None


def loads_line(line: bytes) -> Any:
    """One NDJSON line: its value, or ValueError naming what is wrong."""
    try:
        return json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"nests deeper than {MAX_JSON_DEPTH} levels") from None


def json_problem(value: Any, root: str = "$") -> str | None:
    """Why a parsed JSON value cannot be kept, naming where: nested deeper than MAX_JSON_DEPTH, or a string that
    is not Unicode text (a lone surrogate, which no JSON encoder will write back). None when it can."""
    stack: list[tuple[Any, str, int]] = [(value, root, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_JSON_DEPTH:
                return f"{path}: nested deeper than {MAX_JSON_DEPTH} levels"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str) and not _is_text(key):
                    return f"{path}: a key is not valid Unicode text (lone surrogate)"
                stack.append((child, f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]", depth + 1))
        elif isinstance(item, str) and not _is_text(item):
            return f"{path}: not valid Unicode text (lone surrogate)"
    return None


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def read_json(request: Request, max_bytes: int, *, types: tuple[str, ...] = JSON_TYPES) -> Any:
    _, raw = await read_body(request, max_bytes, types)
    return parse_json(raw)


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request body exceeds the limit of {limit} bytes (XORB_ALERT_MAX_BYTES)")
