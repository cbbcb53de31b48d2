"""Every error the API returns is JSON: {"error": code, "message": sentence, "fields": [...]}."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "5"


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields, self.headers = fields, headers


def error_body(code: str, message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return body


# Names pydantic puts in an error's path for the member of a union that was tried, not a field.
_UNION_TAGS = frozenset({"function-after", "list", "dict", "str", "int", "float", "bool"})


# A body with 25,000 bad items is answered with the first few: the sender fixes those first, and the answer (and the
# work to build it) stays small.
MAX_FIELD_ERRORS = 20
_SHOWN = 64  # characters of a field name quoted back


def field_errors(exc: ValidationError | RequestValidationError, *, skip: int = 0) -> list[dict[str, str]]:
    """pydantic errors as [{field: dotted.path, message}], the path as the sender wrote it."""
    out = []
    for err in _useful(exc.errors())[: MAX_FIELD_ERRORS * 4]:
        loc = [_shown(str(p)) for p in err.get("loc", ())[skip:]]
        # Union members show up in the path ("dict[str,...]"); they mean nothing to the sender.
        loc = [p for p in loc if "[" not in p and p not in _UNION_TAGS]
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        field = ".".join(loc) or "body"
        if message.startswith("observables.") and ":" in message:
            field, message = message.split(":", 1)
            field, message = _shown(field), message.strip()
        out.append({"field": field, "message": message})
    # One sentence per field is enough; union branches repeat themselves. A union branch that
    # failed at the top ("observables: expected a list") is noise when another names a field inside.
    unique: dict[str, dict[str, str]] = {}
    for item in out:
        unique.setdefault(item["field"], item)
    kept = [item for name, item in unique.items() if not any(other.startswith(name + ".") for other in unique)]
    return kept[:MAX_FIELD_ERRORS]


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def _useful(errors: Sequence[ErrorDetails]) -> list[ErrorDetails]:
    """Without the type mismatch of the union branch the sender did not use (observables as an object when they
    sent a list): the other branch's error is the one that names what is wrong."""

    def other_branch(err: ErrorDetails) -> bool:
        in_branch = any(isinstance(p, str) and ("[" in p or p in _UNION_TAGS) for p in err.get("loc", ()))
        return in_branch and err.get("type") in ("dict_type", "list_type")

    return [err for err in errors if not other_branch(err)] or list(errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.fields), exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = field_errors(exc, skip=1)
        names = ", ".join(f["field"] for f in fields)
        # A mistyped query parameter (page_size=abc) is a bad request, like a bad filter value.
        if all(tuple(err.get("loc", ()))[:1] == ("query",) for err in exc.errors()):
            return JSONResponse(error_body("invalid_query", f"invalid {names}", fields), 400)
        return JSONResponse(error_body("invalid_request", f"invalid {names}", fields), 422)

    # Safety nets: a route maps what it expects; Temporal failing in a way it did not expect is still Temporal
    # failing (retry later), not a bug of ours to hide behind a 500.
    @app.exception_handler(TemporalUnavailable)
    async def _temporal_unavailable(_: Request, exc: TemporalUnavailable) -> JSONResponse:
        return _unavailable(str(exc))

    @app.exception_handler(RPCError)
    async def _temporal_error(request: Request, exc: RPCError) -> JSONResponse:
        log.warning("Temporal answered %s %s with %s: %s", request.method, request.url.path, exc.status.name, exc)
        return _unavailable(f"Temporal could not answer ({exc.status.name.lower()}); retry later")

    @app.exception_handler(TimeoutError)
    async def _timeout(request: Request, exc: TimeoutError) -> JSONResponse:
        log.warning("%s %s timed out", request.method, request.url.path)
        return _unavailable("the service timed out waiting for Temporal; retry later")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Still JSON for the client; the traceback goes to the log (Starlette re-raises it to uvicorn).
        return JSONResponse(error_body("internal_error", "internal error; see the service log"), 500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's only 400: a body it reads for a route (approvals) is not JSON
            body = error_body("malformed_json", "request body is not valid JSON; send a JSON object")
            return JSONResponse(body, 400, headers=exc.headers)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)


def _unavailable(message: str) -> JSONResponse:
    return JSONResponse(error_body("unavailable", message), 503, headers={"Retry-After": RETRY_AFTER_SECONDS})
