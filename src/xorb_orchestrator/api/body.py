"""Reading a request body safely: content type, size limit, well-formed JSON or NDJSON (see json_input)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from xorb_orchestrator.api.errors import ApiError
from xorb_orchestrator.api.json_input import MAX_JSON_DEPTH as MAX_JSON_DEPTH
from xorb_orchestrator.api.json_input import decode

JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq")


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(
    request: Request, max_bytes: int, types: tuple[str, ...], *, limit_name: str = "XORB_ALERT_MAX_BYTES"
) -> tuple[str, bytes]:
    """The body and its media type, once the type is allowed and the size within the limit (named in the 413)."""
    media = _media_type(request)
    if media not in types and not (media.startswith("application/") and media.endswith("+json")):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type must be {' or '.join(types)}, got {media or 'none'!r}",
        )
    declared = request.headers.get("content-length", "")
    # Compared as text first: a 5,000-digit length is not a number Python will convert.
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > max_bytes):
        raise _too_large(max_bytes, limit_name)
    chunks, size = [], 0
    async for chunk in request.stream():  # counted as it arrives: a lying Content-Length cannot slip past
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes, limit_name)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiError(400, "empty_body", "request body is empty; send a JSON object")
    return media, raw


def parse_json(raw: bytes) -> Any:
    """The body's JSON value (with json_input's markers for values json_problem refuses); 400 when it is not JSON."""
    try:
        return decode(raw)
    except RecursionError:
        raise ApiError(400, "too_deep", f"request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity
        raise ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}") from None


def loads_line(line: bytes) -> Any:
    """One NDJSON line: its value, or ValueError naming what is wrong."""
    try:
        return decode(line)
    except RecursionError:
        raise ValueError(f"nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None


async def read_json(
    request: Request, max_bytes: int, *, types: tuple[str, ...] = JSON_TYPES, limit_name: str = "XORB_ALERT_MAX_BYTES"
) -> Any:
    _, raw = await read_body(request, max_bytes, types, limit_name=limit_name)
    return parse_json(raw)


def _too_large(limit: int, name: str) -> ApiError:
    return ApiError(413, "body_too_large", f"request body exceeds the limit of {limit} bytes ({name})")
