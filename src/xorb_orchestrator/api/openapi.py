"""What the OpenAPI document promises about bodies and errors, so a client (or schemathesis) can rely on it: every
error is an ErrorBody, each operation lists the statuses it answers, and request bodies the routes read themselves
are described as the routes read them."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

_DESCRIPTIONS = {
    400: "Not JSON, an empty body, or a bad query parameter (named in `fields`).",
    401: "Missing or invalid API key.",
    403: "The person (the key's, or the one named) may not do this, or the key cannot speak for them.",
    404: "No such resource.",
    409: "The request conflicts with the resource's state.",
    413: "The body is over the size limit named in `message`.",
    415: "The content type is not one this operation reads.",
    422: "Invalid fields, each named in `fields`.",
    429: "Too many alerts are waiting for Temporal: retry after `Retry-After` seconds.",
    502: "An outside service the operation depends on (a feed) failed; `message` says how.",
    503: "Temporal (or the worker answering for it) is unavailable: retry after `Retry-After` seconds.",
    504: "The operation did not finish in time.",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer: a code, one sentence, and the fields at fault where there are some."""

    error: str
    message: str
    fields: list[FieldError] | None = None


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these error statuses, each an ErrorBody (with Retry-After for 429 and 503)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": ErrorBody, "description": _DESCRIPTIONS[status]}
        if status in (429, 503):
            out[status]["headers"] = RETRY_AFTER
    return out


def request_body(content: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads its body itself: `content` is media type -> JSON Schema."""
    return {
        "requestBody": {
            "required": True,
            "content": {media: {"schema": inline_defs(schema)} for media, schema in content.items()},
        }
    }


def inline_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON Schema with its `$defs` written in place: `#/$defs/...` means nothing inside an OpenAPI
    document. (Our request models are not recursive, so this ends.)"""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**resolve(copy.deepcopy(defs[ref.removeprefix("#/$defs/")])), **resolve(rest)}
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def install_openapi(app: FastAPI) -> None:
    """FastAPI documents its own 422 body ({detail: [...]}) wherever a route has parameters; our handlers answer
    ErrorBody instead (api/errors.py), so the document says so. (ErrorBody is in the document's schemas: every
    /v1 router documents its 401 with it.)"""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()  # cached by FastAPI in app.openapi_schema: amended in place, once
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            # The key goes in `Authorization: Bearer <key>`: declared, so "Authorize" in /docs sends it.
            document["components"].setdefault("securitySchemes", {})["apiKey"] = {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key of XORB_API_KEYS / XORB_API_KEY_FILE (`xorb dev` prints one).",
            }
            for path, operations in document.get("paths", {}).items():
                for operation in operations.values():
                    _error_bodies(operation.get("responses", {}))
                    if path.startswith("/v1/"):  # /healthz, /readyz and /metrics are open
                        operation["security"] = [{"apiKey": []}]
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _error_bodies(responses: dict[str, Any]) -> None:
    for status, response in responses.items():
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if schema.get("$ref") == "#/components/schemas/HTTPValidationError":
            schema["$ref"] = "#/components/schemas/ErrorBody"
            response["description"] = _DESCRIPTIONS.get(int(status), response.get("description", ""))
