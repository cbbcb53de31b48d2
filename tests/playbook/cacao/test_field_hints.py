""" "did you mean" hints for unknown keys: taken from the fields of the object the key is in, never the key itself."""

from __future__ import annotations

from typing import Any

import pytest

from tests.playbook.cacao.fixtures import ACTION, START, http, playbook
from xorb_orchestrator.playbook import PlaybookInvalid
from xorb_orchestrator.playbook.cacao import parse_cacao, validate_cacao
from xorb_orchestrator.playbook.cacao.parse import object_fields

PARALLEL = "parallel--00000000-0000-4000-8000-0000000000dd"
CHILD = "playbook--00000000-0000-4000-8000-0000000000ee"


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(PlaybookInvalid) as caught:
        parse_cacao(data)
    return [str(e) for e in caught.value.errors]


def with_step(step_id: str, step: dict[str, Any]) -> dict[str, Any]:
    data = playbook({"commands": [http("GET / HTTP/1.1")]})
    data["workflow"][step_id] = step
    return data


def test_a_key_of_another_step_type_gets_no_hint_of_itself() -> None:
    data = with_step(PARALLEL, {"type": "parallel", "next_steps": [ACTION, ACTION], "agent": "x"})
    assert errors(data) == [f"step '{PARALLEL}' field 'agent': unknown field"]
    child = "playbook-action--00000000-0000-4000-8000-0000000000ff"
    data = with_step(child, {"type": "playbook-action", "playbook_id": CHILD, "targets": []})
    assert errors(data) == [f"step '{child}' field 'targets': unknown field"]


def test_a_key_of_another_command_type_gets_no_hint_from_it() -> None:
    data = playbook({"commands": [{"type": "manual", "command": "Call the owner", "contents": "x"}]})
    assert errors(data) == [f"step '{ACTION}' field 'commands[0].contents': unknown field"]


@pytest.mark.parametrize(
    ("where", "key", "hint"),
    [
        ("step", "on_sucess", "on_success"),
        ("command", "header", "headers"),
        ("variable", "constnat", "constant"),
        ("playbook", "workflow_starts", "workflow_start"),
    ],
)
def test_a_misspelt_key_gets_the_field_of_its_own_object(where: str, key: str, hint: str) -> None:
    data = playbook({"commands": [http("GET / HTTP/1.1")]}, playbook_variables={"__v__": {"type": "string"}})
    target = {
        "step": data["workflow"][START],
        "command": data["workflow"][ACTION]["commands"][0],
        "variable": data["playbook_variables"]["__v__"],
        "playbook": data,
    }[where]
    target[key] = "x"
    (message,) = errors(data) if where != "variable" else [str(e) for e in validate_cacao(parse_cacao(data))]
    assert message.endswith(f"{key}': unknown field (did you mean '{hint}'?)")


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (["workflow", ACTION, "parallel"], {"next_steps", "on_completion"}),
        (["workflow", ACTION, "action", "commands", 0, "manual"], {"command", "command_b64"}),
        (["workflow", ACTION, "action", "step_variables", "__v__"], {"value", "constant"}),
        (["nowhere"], set()),
    ],
)
def test_object_fields_follow_the_error_location(loc: list[Any], expected: set[str]) -> None:
    fields = object_fields(loc)
    assert expected <= fields and ("agent" not in fields or loc[2:3] == ["action"])
