"""The transfer layer: OpenC2 over HTTPS, in its two forms, and an answer in the form the command came in.

- HTTPS transfer 1.0: the body is the bare command (`application/openc2-cmd+json;version=1.0`) and the response
  is the bare response (`application/openc2-rsp+json;version=1.0`).
- HTTPS transfer 1.1 / Language 1.1 message: an envelope, `{"headers": {...}, "body": {"openc2": {"request": C}}}`
  (`application/openc2+json;version=1.0`), answered with `{"headers": ..., "body": {"openc2": {"response": R}}}`.

Which form is read from the body itself (an object with `body` and no `action` is an envelope), so a producer
that labels either with `application/openc2+json` or plain `application/json` is still understood.
"""

from __future__ import annotations

import json
from typing import Any

from xorb_orchestrator.actuator.answers import malformed, shown

COMMAND_TYPE = "application/openc2-cmd+json"
MESSAGE_TYPE = "application/openc2+json"
RESPONSE_CONTENT_TYPE = "application/openc2-rsp+json;version=1.0"
MESSAGE_CONTENT_TYPE = "application/openc2+json;version=1.0"
ACCEPTED_TYPES = (COMMAND_TYPE, MESSAGE_TYPE, "application/json")
VERSION = "1.0"
MAX_BODY_BYTES = 64 * 1024
ENVELOPE_FIELDS = ("headers", "body", "signature")


def check_content_type(header: str | None) -> None:
    """400 unless the request is labelled as one of the accepted types (and, if it says, version 1.0)."""
    media, *params = [part.strip().lower() for part in (header or "").split(";")]
    if media not in ACCEPTED_TYPES:
        raise malformed(
            f"Content-Type: expected {COMMAND_TYPE};version={VERSION}, {MESSAGE_TYPE};version={VERSION} or "
            f"application/json, got {shown(header or 'none')}"
        )
    version = next((p.partition("=")[2].strip('"') for p in params if p.partition("=")[0].strip() == "version"), None)
    if version is not None and version != VERSION:
        raise malformed(f"Content-Type: version {shown(version)} is not supported (only {VERSION})")


def read_json(body: bytes) -> Any:
    """The body as JSON; 400 when it is too long, not UTF-8 or not JSON."""
    if len(body) > MAX_BODY_BYTES:
        raise malformed(f"the body is longer than {MAX_BODY_BYTES} bytes: one command is far shorter")
    try:
        text = body.decode("utf-8")  # RFC 8259: JSON between systems is UTF-8 (json.loads would guess others)
    except UnicodeDecodeError:
        raise malformed("the body is not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise malformed(f"the body is not JSON: {exc}") from None


def is_envelope(data: Any) -> bool:
    return isinstance(data, dict) and "body" in data and "action" not in data


def envelope_headers(data: Any) -> dict[str, Any]:
    """The message headers of an envelope, as far as they can be read (to answer even a malformed one in kind)."""
    headers = data.get("headers") if isinstance(data, dict) else None
    return headers if isinstance(headers, dict) else {}


def open_envelope(data: dict[str, Any]) -> Any:
    """The command an envelope carries; 400 naming the part of the envelope that is wrong."""
    unknown = [name for name in data if name not in ENVELOPE_FIELDS]
    if unknown:
        raise malformed(f"message: unknown field {unknown[0][:40]!r} (a message has {', '.join(ENVELOPE_FIELDS)})")
    headers = data.get("headers", {})
    if not isinstance(headers, dict):
        raise malformed(f"headers: expected an object, got {shown(headers)}")
    for name in ("request_id", "from"):
        if name in headers and not isinstance(headers[name], str):
            raise malformed(f"headers.{name}: expected a string, got {shown(headers[name])}")
    to = headers.get("to", [])
    if not isinstance(to, list) or not all(isinstance(item, str) for item in to):
        raise malformed(f"headers.to: expected a list of strings, got {shown(to)}")
    body = data["body"]
    content = body.get("openc2") if isinstance(body, dict) and len(body) == 1 else None
    if not isinstance(content, dict) or list(content) != ["request"]:
        raise malformed('body: expected {"openc2": {"request": <command>}}')
    return content["request"]


def answer_in_kind(
    response: dict[str, Any], envelope: dict[str, Any] | None, *, request_id: str | None, name: str, now_ms: int
) -> tuple[str, dict[str, Any]]:
    """(content type, body) of `response` for a command that came bare (`envelope` None) or in an envelope with
    these headers: the request id echoed, from = the name the producer addressed us by (else ours), to = it."""
    if envelope is None:
        return RESPONSE_CONTENT_TYPE, response
    headers: dict[str, Any] = {}
    if request_id:
        headers["request_id"] = request_id
    headers["created"] = now_ms
    addressed = envelope.get("to")
    ours = addressed[0] if isinstance(addressed, list) and addressed and isinstance(addressed[0], str) else name
    headers["from"] = ours
    if isinstance(envelope.get("from"), str):
        headers["to"] = [envelope["from"]]
    return MESSAGE_CONTENT_TYPE, {"headers": headers, "body": {"openc2": {"response": response}}}
