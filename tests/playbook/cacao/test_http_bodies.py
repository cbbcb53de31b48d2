"""http-api bodies that are not JSON (form data, XML, plain text): sent as written, with the command's
Content-Type, through http.request's `body_text`; JSON bodies stay `json`."""

from __future__ import annotations

import base64

import pytest

from tests.playbook.cacao.fixtures import ACTION, http, native_problems, playbook, rendered
from xorb_orchestrator.playbook import PlaybookInvalid
from xorb_orchestrator.playbook.actions import ActionArgsInvalid
from xorb_orchestrator.playbook.builtin_actions import HTTP_REQUEST, MAX_BODY_TEXT
from xorb_orchestrator.playbook.cacao import load_cacao

VARIABLES = {"__ip__": {"type": "ipv4-addr", "external": True}}
FORM = {"Content-Type": ["application/x-www-form-urlencoded"]}


def converted_args(command: dict[str, object]) -> dict[str, object]:
    converted = load_cacao(playbook({"commands": [command]}, playbook_variables=VARIABLES))
    assert native_problems(converted) == []
    (step,) = converted.steps
    return dict(step.args)


def test_form_content_is_sent_as_text_with_its_content_type() -> None:
    args = converted_args(http("POST /block HTTP/1.1", headers=FORM, content="ip=__ip__:value&action=block"))
    assert args == {
        "method": "POST",
        "url": "http://api.test.local/block",
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "body_text": "ip=${{ inputs.ip }}&action=block",
    }
    sent = HTTP_REQUEST.parse_args(rendered(args, {"ip": "192.0.2.7"}))
    assert sent.body_text == "ip=192.0.2.7&action=block" and sent.json_body is None


def test_plain_text_without_a_content_type_is_sent_as_text() -> None:
    args = converted_args(http("POST /notes HTTP/1.1", content="host __ip__:value was contained"))
    assert args["body_text"] == "host ${{ inputs.ip }} was contained" and "json" not in args


def test_json_text_with_a_non_json_content_type_is_sent_as_written() -> None:
    headers = {"content-type": ["text/plain"]}
    args = converted_args(http("POST /notes HTTP/1.1", headers=headers, content='{"a": 1}'))
    assert args["body_text"] == '{"a": 1}' and "json" not in args


@pytest.mark.parametrize("headers", [{}, {"Content-Type": ["application/json; charset=utf-8"]}])
def test_json_content_is_still_sent_as_json(headers: dict[str, list[str]]) -> None:
    args = converted_args(http("POST /block HTTP/1.1", headers=headers, content='{"ip": "__ip__:value"}'))
    assert args["json"] == {"ip": "${{ inputs.ip }}"} and "body_text" not in args


def test_content_b64_text_is_decoded_and_sent_as_text() -> None:
    xml = base64.b64encode(b"<block><ip>__ip__:value</ip></block>").decode()
    headers = {"Content-Type": ["application/xml"]}
    args = converted_args(http("PUT /rules/1 HTTP/1.1", headers=headers, content_b64=xml))
    assert args["body_text"] == "<block><ip>${{ inputs.ip }}</ip></block>"


def test_binary_content_b64_is_refused() -> None:
    binary = base64.b64encode(b"\xff\xfe\x00binary").decode()
    data = playbook({"commands": [http("POST /upload HTTP/1.1", content_b64=binary)]})
    with pytest.raises(PlaybookInvalid) as caught:
        load_cacao(data)
    assert [str(e) for e in caught.value.errors] == [
        f"step '{ACTION}' field 'commands[0].content_b64': is not base64-encoded UTF-8 text"
    ]


def test_http_request_takes_a_text_body_but_not_together_with_json() -> None:
    url = "https://api.test.local/x"
    assert HTTP_REQUEST.parse_args({"url": url, "method": "POST", "body_text": "a=1"}).body_text == "a=1"
    with pytest.raises(ActionArgsInvalid, match="give json or body_text, not both"):
        HTTP_REQUEST.parse_args({"url": url, "json": {"a": 1}, "body_text": "a=1"})
    with pytest.raises(ActionArgsInvalid, match="body_text"):
        HTTP_REQUEST.parse_args({"url": url, "body_text": "x" * (MAX_BODY_TEXT + 1)})
