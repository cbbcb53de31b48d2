"""Temporal's remote codec protocol over HTTP, so the Web UI and `temporal` CLI can read encrypted histories.

POST /encode and POST /decode take and answer `{"payloads": [{"metadata": {k: base64}, "data": base64}]}` (the
JSON form of temporal.api.common.v1.Payloads). The browser calls it from the Web UI's origin: CORS for that one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Sequence

from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload, Payloads

from xorb_orchestrator.infrastructure.codec import EncryptionCodec, PayloadKeyError

# A history event's payloads stay under Temporal's 2 MB each; a request is one event's worth.
MAX_BODY_BYTES = 8 * 1024 * 1024
ALLOWED_HEADERS = ["content-type", "x-namespace", "authorization"]


class _BadRequest(Exception):
    pass


def codec_app(codec: EncryptionCodec, *, token: str | None = None, cors_origins: Sequence[str] = ()) -> Starlette:
    """The codec server: `token` set, every request needs `Authorization: Bearer <token>`."""
    expected = hashlib.sha256(token.encode()).digest() if token else None

    def authorized(request: Request) -> bool:
        if expected is None:
            return True
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        # Fixed-length digests: the comparison's time says nothing about the token.
        digest = hashlib.sha256(presented.strip().encode()).digest()
        return scheme.lower() == "bearer" and hmac.compare_digest(digest, expected)

    def endpoint(
        convert: Callable[[Sequence[Payload]], Awaitable[list[Payload]]],
    ) -> Callable[..., Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            if request.method == "OPTIONS":  # a preflight CORS did not answer (no Origin): nothing to say
                return Response(status_code=204)
            if not authorized(request):
                return _error(401, "missing or invalid token: send 'Authorization: Bearer <token>'", bearer=True)
            try:
                payloads = await _read_payloads(request)
                answer = await convert(payloads.payloads)
            except _BadRequest as exc:
                return _error(400, str(exc))
            except PayloadKeyError as exc:
                return _error(422, str(exc))
            return JSONResponse({"payloads": [MessageToDict(p) for p in answer]})

        return handle

    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["POST", "OPTIONS"],
                allow_headers=ALLOWED_HEADERS,
                allow_credentials=True,  # the UI's "include cross-origin credentials" setting
            )
        )
    methods = ["POST", "OPTIONS"]
    routes = [
        Route("/encode", endpoint(codec.encode), methods=methods),
        Route("/decode", endpoint(codec.decode), methods=methods),
    ]
    return Starlette(routes=routes, middleware=middleware)


async def _read_payloads(request: Request) -> Payloads:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _BadRequest(f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError
        return ParseDict(document, Payloads(), ignore_unknown_fields=True)
    except (ValueError, ParseError):
        raise _BadRequest('expected JSON {"payloads": [{"metadata": {...}, "data": "<base64>"}]}') from None


def _error(status: int, message: str, *, bearer: bool = False) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if bearer else None
    return JSONResponse({"message": message}, status_code=status, headers=headers)
