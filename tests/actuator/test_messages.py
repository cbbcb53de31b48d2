"""The transfer layer: which content types are taken, how an envelope is opened, and the answer in kind."""

from __future__ import annotations

import pytest

from xorb_orchestrator.actuator.answers import CommandError
from xorb_orchestrator.actuator.messages import (
    MESSAGE_CONTENT_TYPE,
    RESPONSE_CONTENT_TYPE,
    answer_in_kind,
    check_content_type,
    envelope_headers,
    is_envelope,
    open_envelope,
    read_json,
)

COMMAND = {"action": "query", "target": {"features": []}}


@pytest.mark.parametrize(
    "header",
    [
        "application/openc2-cmd+json;version=1.0",
        "application/openc2+json; version=1.0",
        "Application/OpenC2+JSON",
        "application/json",
        "application/json; charset=utf-8",
    ],
)
def test_accepted_content_types(header: str) -> None:
    check_content_type(header)


@pytest.mark.parametrize(
    ("header", "text"),
    [
        (None, "got 'none'"),
        ("text/plain", "got 'text/plain'"),
        ("application/x-www-form-urlencoded", "Content-Type: expected application/openc2-cmd+json"),
        ("application/openc2-cmd+json;version=2.0", "version '2.0' is not supported"),
    ],
)
def test_other_content_types_are_400(header: str | None, text: str) -> None:
    with pytest.raises(CommandError) as refused:
        check_content_type(header)
    assert refused.value.status == 400 and text in refused.value.text


def test_a_body_that_is_not_json_is_400() -> None:
    for body, text in ((b"{not json", "the body is not JSON"), (b"\xff\xfe", "not UTF-8"), (b" " * 70000, "longer")):
        with pytest.raises(CommandError, match=text):
            read_json(body)


def test_an_envelope_is_opened_and_answered_as_one() -> None:
    message = {
        "headers": {"request_id": "d1ac0489", "created": 1545257700000, "from": "soar.example", "to": ["gw-1"]},
        "body": {"openc2": {"request": COMMAND}},
    }
    assert is_envelope(message) and not is_envelope(COMMAND)
    assert open_envelope(message) == COMMAND
    media, body = answer_in_kind(
        {"status": 200}, envelope_headers(message), request_id="d1ac0489", name="host", now_ms=1545257710000
    )
    assert media == MESSAGE_CONTENT_TYPE
    assert body == {
        "headers": {"request_id": "d1ac0489", "created": 1545257710000, "from": "gw-1", "to": ["soar.example"]},
        "body": {"openc2": {"response": {"status": 200}}},
    }


def test_a_bare_command_is_answered_bare_and_an_envelope_without_headers_names_us() -> None:
    assert answer_in_kind({"status": 200}, None, request_id="x", name="host", now_ms=1) == (
        RESPONSE_CONTENT_TYPE,
        {"status": 200},
    )
    _, body = answer_in_kind({"status": 400}, {}, request_id=None, name="gw-host", now_ms=5)
    assert body["headers"] == {"created": 5, "from": "gw-host"}


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"body": {"openc2": {"response": {"status": 200}}}}, 'expected {"openc2": {"request": <command>}}'),
        ({"body": {"openc2": {"request": COMMAND}, "x": 1}}, "body: expected"),
        ({"headers": [], "body": {"openc2": {"request": COMMAND}}}, "headers: expected an object"),
        ({"headers": {"to": "gw"}, "body": {"openc2": {"request": COMMAND}}}, "headers.to: expected a list"),
        ({"headers": {"request_id": 7}, "body": {"openc2": {"request": COMMAND}}}, "headers.request_id"),
        ({"body": {"openc2": {"request": COMMAND}}, "extra": 1}, "message: unknown field 'extra'"),
    ],
)
def test_a_malformed_envelope_is_400(message: dict[str, object], text: str) -> None:
    with pytest.raises(CommandError) as refused:
        open_envelope(message)
    assert refused.value.status == 400 and text in refused.value.text
