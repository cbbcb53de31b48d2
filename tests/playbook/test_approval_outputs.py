"""An approval's `outputs`: values the one person who approves gives; names, required: 1, no approval by
timeout."""

from __future__ import annotations

from typing import Any

import pytest

from xorb_orchestrator.playbook import PlaybookInvalid, parse_playbook, validate_playbook


def approval_playbook(**approval: Any) -> dict[str, Any]:
    base = {"approvers": {"roles": ["soc-lead"]}, "timeout": "1h", "outputs": ["ticket"]}
    return {
        "id": "ask-ticket",
        "name": "Ask for the ticket",
        "version": "1",
        "steps": [
            {"id": "ask", "approval": {**base, **approval}},
            {"id": "tell", "action": "data.set", "args": {"ticket": "${{ steps.ask.result.ticket }}"}},
        ],
    }


def problems(data: dict[str, Any]) -> list[str]:
    return [str(error) for error in validate_playbook(parse_playbook(data))]


def test_outputs_are_read_as_the_steps_result() -> None:
    playbook = parse_playbook(approval_playbook())
    assert playbook.steps[0].approval.outputs == ["ticket"]
    assert validate_playbook(playbook) == []


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        (["ticket", "ticket"], "'ticket' is listed twice"),
        (["two words"], "'two words' must be a name of letters, digits and '_'"),
    ],
)
def test_output_names_are_distinct_identifiers(outputs: list[str], message: str) -> None:
    with pytest.raises(PlaybookInvalid) as caught:
        parse_playbook(approval_playbook(outputs=outputs))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("approval", "expected"),
    [
        ({"required": 2},
         ["step 'ask' field 'approval.required': an approval with outputs needs required: 1 (whose values?)"]),
        ({"on_timeout": "approve"},
         ["step 'ask' field 'approval.on_timeout': an approval with outputs cannot approve on timeout: nobody "
          "would give the values"]),
        ({"on_timeout": "escalate",
          "escalate": {"approvers": {"roles": ["ciso"]}, "timeout": "1h", "on_timeout": "approve"}},
         ["step 'ask' field 'approval.escalate.on_timeout': an approval with outputs cannot approve on timeout: "
          "nobody would give the values"]),
    ],
)  # fmt: skip
def test_outputs_need_one_person_who_approves(approval: dict[str, Any], expected: list[str]) -> None:
    assert problems(approval_playbook(**approval)) == expected
    assert problems(approval_playbook(**approval, outputs=[])) == []
