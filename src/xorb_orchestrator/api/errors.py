"""Every error the API returns is JSON: {"error": code, "message": sentence, "fields": [...]}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException


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


def field_errors(exc: ValidationError | RequestValidationError, *, skip: int = 0) -> list[dict[str, str]]:
    """pydantic errors as [{field: dotted.path, message}], the path as the sender wrote it."""
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())[skip:]]
        # Union members show up in the path ("dict[str,...]"); they mean nothing to the sender.
        loc = [p for p in loc if "[" not in p and p not in _UNION_TAGS]
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        field = ".".join(loc) or "body"
        if message.startswith("observables.") and ":" in message:
            field, message = message.split(":", 1)
            message = message.strip()
        out.append({"field": field, "message": message})
    # One sentence per field is enough; union branches repeat themselves. A union branch that
    # failed at the top ("observables: expected a list") is noise when another names a field inside.
    unique: dict[str, dict[str, str]] = {}
    for item in out:
        unique.setdefault(item["field"], item)
    return [item for name, item in unique.items() if not any(other.startswith(name + ".") for other in unique)]


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

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Still JSON for the client; the traceback goes to the log (Starlette re-raises it to uvicorn).
        return JSONResponse(error_body("internal_error", "internal error; see the service log"), 500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)
