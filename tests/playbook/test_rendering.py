"""Context-aware rendering of action arguments: a value lands as data in its place, never as syntax."""

from __future__ import annotations

from typing import Any

import pytest

from xorb_orchestrator.playbook.expressions import ExpressionError
from xorb_orchestrator.playbook.rendering import render_action_args, render_url

CONTEXT: dict[str, Any] = {
    "inputs": {
        "api": "https://idp.corp.example",
        "user": "ceo-id/lifecycle/deactivate#",
        "query": "a&admin=true",
        "host": "idp.corp.example",
        "evil_host": "attacker.example/x?",
        "spaced": " https://idp.corp.example",
        "line": "text\r\nX-Injected: 1",
        "ip": "203.0.113.9",
    },
    "incident": {"id": "incident-1"},
    "steps": {},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "${{ inputs.api }}/api/v1/users/${{ inputs.user }}/lifecycle/suspend",
            "https://idp.corp.example/api/v1/users/ceo-id%2Flifecycle%2Fdeactivate%23/lifecycle/suspend",
        ),
        (
            "${{ inputs.api }}/search?q=${{ inputs.query }}&n=1",
            "https://idp.corp.example/search?q=a%26admin%3Dtrue&n=1",
        ),
        ("https://${{ inputs.host }}/block/${{ inputs.ip }}", "https://idp.corp.example/block/203.0.113.9"),
        (
            "${{ inputs.api }}/page#${{ inputs.user }}",
            "https://idp.corp.example/page#ceo-id%2Flifecycle%2Fdeactivate%23",
        ),
        ("${{ inputs.api }}", "https://idp.corp.example"),
        ("/relative/${{ inputs.user }}", "/relative/ceo-id%2Flifecycle%2Fdeactivate%23"),
    ],
)
def test_values_are_encoded_for_their_place_in_the_url(template: str, expected: str) -> None:
    assert render_action_args({"url": template}, CONTEXT)["url"] == expected


def test_a_value_in_the_host_cannot_move_the_call_elsewhere() -> None:
    with pytest.raises(ExpressionError, match="url: a value in the host part must be a host name"):
        render_url("https://${{ inputs.evil_host }}/block", CONTEXT)


def test_an_address_with_whitespace_is_refused_before_any_call() -> None:
    with pytest.raises(ExpressionError, match="whitespace or control characters"):
        render_url("${{ inputs.spaced }}/users", CONTEXT)
    with pytest.raises(ExpressionError, match="whitespace or control characters"):
        render_url("${{ inputs.spaced }}", CONTEXT)


def test_other_url_arguments_by_name_and_undo_args_alike() -> None:
    args = {"callback_url": "${{ inputs.api }}/cb/${{ inputs.user }}", "text": "user ${{ inputs.user }}"}
    rendered = render_action_args(args, CONTEXT)
    assert rendered["callback_url"] == "https://idp.corp.example/cb/ceo-id%2Flifecycle%2Fdeactivate%23"
    assert rendered["text"] == "user ceo-id/lifecycle/deactivate#"  # text stays text


def test_header_values_cannot_carry_line_breaks() -> None:
    with pytest.raises(ExpressionError, match=r"headers\.X-Note: a line break or NUL"):
        render_action_args({"headers": {"X-Note": "${{ inputs.line }}"}}, CONTEXT)
    ok = render_action_args({"headers": {"X-Incident": "${{ incident.id }}"}}, CONTEXT)
    assert ok == {"headers": {"X-Incident": "incident-1"}}


def test_json_bodies_keep_values_as_json_values() -> None:
    rendered = render_action_args({"json": {"user": "${{ inputs.user }}", "q": "${{ inputs.query }}"}}, CONTEXT)
    assert rendered == {"json": {"user": "ceo-id/lifecycle/deactivate#", "q": "a&admin=true"}}


def test_a_template_written_into_an_alert_value_stays_text() -> None:
    """An attacker types `${{ ... }}` into a login form: the value is data, never evaluated."""
    context = {**CONTEXT, "inputs": {**CONTEXT["inputs"], "user": "${{ incident.id }}"}}
    args = render_action_args({"text": "user ${{ inputs.user }}", "body": {"u": "${{ inputs.user }}"}}, context)
    assert args == {"text": "user ${{ incident.id }}", "body": {"u": "${{ incident.id }}"}}
