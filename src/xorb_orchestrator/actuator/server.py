"""The HTTP front of the SLPF consumer: POST /openc2 (and /.well-known/openc2, HTTPS transfer 1.1's path).

Per request: the API key (401 without a valid one), the rate limit (503), the content type, the body as a bare
command or an envelope, the command, then the answer in kind. The OpenC2 status is the HTTP status too (HTTPS
transfer 1.0, table 4-1), with two exceptions HTTP forces: 102 (`response_requested: ack`) is not a final HTTP
status, so it goes as 202 with `{"status": 102}`; and `response_requested: none` asks for no response at all
(SLPF 3.2.1.7.1), so the body is empty: 204 when the command succeeded, its error status when it did not.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import signal
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from xorb_orchestrator.actuator.answers import (
    INTERNAL_ERROR,
    OK,
    PROCESSING,
    UNAUTHORIZED,
    UNAVAILABLE,
    Answer,
    CommandError,
    malformed,
)
from xorb_orchestrator.actuator.arguments import requested_response
from xorb_orchestrator.actuator.commands import parse_command
from xorb_orchestrator.actuator.consumer import SlpfConsumer
from xorb_orchestrator.actuator.endpoint import Endpoint, bind
from xorb_orchestrator.actuator.messages import (
    MAX_BODY_BYTES,
    RESPONSE_CONTENT_TYPE,
    answer_in_kind,
    check_content_type,
    envelope_headers,
    is_envelope,
    open_envelope,
    read_json,
)
from xorb_orchestrator.actuator.rate import RateLimit

log = logging.getLogger(__name__)

PATHS = ("/openc2", "/.well-known/openc2")
_ECHOABLE = re.compile(r"^[\x21-\x7e]{1,128}$")  # a request id we can put back in a header as it came


def create_app(consumer: SlpfConsumer, api_keys: Sequence[str], name: str) -> Starlette:
    """The app; `api_keys` empty means client certificates authenticate (the TLS layer has checked them)."""
    keys = [key.encode() for key in api_keys]
    limit = RateLimit(consumer.rate_limit)

    async def openc2(request: Request) -> Response:
        request_id = _request_id(request)
        if keys and not _authorized(request.headers.get("authorization"), keys):
            refused = Answer(UNAUTHORIZED, "a valid API key is required: Authorization: Bearer <key>")
            return _refusal(refused, {"WWW-Authenticate": 'Bearer realm="openc2"'}, request_id)
        wait = limit.take()
        if wait is not None:
            text = f"more than {limit.per_minute} commands in a minute; try again in {wait:.0f}s"
            return _refusal(Answer(UNAVAILABLE, text), {"Retry-After": str(int(wait) + 1)}, request_id)
        envelope: dict[str, Any] | None = None
        requested = "complete"
        command: Any = None
        try:
            check_content_type(request.headers.get("content-type"))
            data = read_json(await _body(request))
            if is_envelope(data):
                envelope = envelope_headers(data)
                request_id = envelope.get("request_id") if isinstance(envelope.get("request_id"), str) else request_id
                command = open_envelope(data)
            else:
                command = data
            requested = requested_response(command)
            answer = await consumer.execute(parse_command(command, consumer.now_ms()))
        except CommandError as exc:
            answer = exc.answer()
        except Exception:
            log.exception("command failed")
            answer = Answer(INTERNAL_ERROR, "internal error: see the actuator's log")
        peer = request.client.host if request.client else "?"
        log.info("%s from %s: %d %s", _summary(command), peer, answer.status, answer.text or "")  # the audit trail
        return _respond(answer, requested, envelope, request_id, name, consumer.now_ms())

    routes = [Route(path, openc2, methods=["POST"]) for path in PATHS]
    return Starlette(routes=routes)


def _respond(
    answer: Answer, requested: str, envelope: dict[str, Any] | None, request_id: str | None, name: str, now_ms: int
) -> Response:
    headers = {"Cache-Control": "no-cache"}
    if request_id and _ECHOABLE.match(request_id):
        headers["X-Request-ID"] = request_id
    if requested == "none":
        return Response(status_code=204 if answer.status == OK else answer.status, headers=headers)
    if requested == "ack" and answer.status == OK:
        answer = Answer(PROCESSING)
    media, body = answer_in_kind(answer.body(), envelope, request_id=request_id, name=name, now_ms=now_ms)
    status = 202 if answer.status == PROCESSING else answer.status
    return Response(json.dumps(body), status_code=status, media_type=media, headers=headers)


def _refusal(answer: Answer, headers: dict[str, str], request_id: str | None) -> Response:
    if request_id and _ECHOABLE.match(request_id):
        headers = {**headers, "X-Request-ID": request_id}
    headers = {**headers, "Cache-Control": "no-cache"}
    return Response(json.dumps(answer.body()), answer.status, headers, media_type=RESPONSE_CONTENT_TYPE)


def _summary(command: Any) -> str:
    """The command in a line for the log: action, target type and value (as JSON: no line breaks), cut short."""
    if not isinstance(command, dict):
        return "an unreadable command"
    target = command.get("target")
    if not isinstance(target, dict) or not target:
        return f"{json.dumps(command.get('action'))[:20]} with no target"
    kind, value = next(iter(target.items()))
    return f"{json.dumps(command.get('action'))[:20]} {json.dumps(kind)[:40]} {json.dumps(value)[:80]}"


def _authorized(header: str | None, keys: list[bytes]) -> bool:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    given = token.strip().encode()
    # Compared with every key, in constant time each: neither a key nor which one matched shows in the timing.
    matches = [hmac.compare_digest(given, key) for key in keys]
    return any(matches)


def _request_id(request: Request) -> str | None:
    return request.headers.get("x-request-id") or request.headers.get("x-correlation-id")


async def _body(request: Request) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise malformed(f"the body is longer than {MAX_BODY_BYTES} bytes: one command is far shorter")
        chunks.append(chunk)
    return b"".join(chunks)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling (it would re-raise the signal after shutting down, ending the
    process before the consumer stops): `run` decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_server(app: Starlette, tls: ssl.SSLContext | None) -> uvicorn.Server:
    """uvicorn serving `app` (over TLS with `tls`); its serve() returns once should_exit is set."""
    factory = (lambda _config, _default: tls) if tls is not None else None
    config = uvicorn.Config(app, lifespan="off", log_config=None, server_header=False, ssl_context_factory=factory)
    return _Server(config)


async def run(
    consumer: SlpfConsumer,
    endpoint: Endpoint,
    api_keys: Sequence[str],
    tls: ssl.SSLContext | None,
    announce: Callable[[str], None],
) -> None:
    """The actuator until SIGINT or SIGTERM: rules restored, then commands served; `announce` gets the URL."""
    await consumer.start()
    loop = asyncio.get_running_loop()
    try:
        sock = bind(endpoint)
        server = http_server(create_app(consumer, api_keys, socket.gethostname()), tls)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, setattr, server, "should_exit", True)
        announce(endpoint.url(sock.getsockname()[1]))
        await server.serve(sockets=[sock])
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await consumer.stop()
