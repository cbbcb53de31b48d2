"""Shapes found in published CACAO playbooks (SOARCA's examples and tests), written here as our own fixtures:
what the specification allows is accepted, and what it forbids is refused naming the JSON path."""

from __future__ import annotations

from typing import Any

import pytest

from tests.playbook.cacao.fixtures import ACTION, START, http, native_problems, playbook
from xorb_orchestrator.playbook import PlaybookInvalid
from xorb_orchestrator.playbook.cacao import load_cacao


def refusals(data: dict[str, Any]) -> list[str]:
    with pytest.raises(PlaybookInvalid) as caught:
        load_cacao(data)
    return [str(e) for e in caught.value.errors]


def test_variables_may_carry_other_properties() -> None:
    """The variable schema, unlike the step and command ones, does not forbid them (SOARCA writes `name`)."""
    variables = {"__var1__": {"type": "string", "name": "__var1__", "external": True}}
    data = playbook({"commands": [http("GET /x/__var1__:value HTTP/1.1")]}, playbook_variables=variables)
    converted = load_cacao(data)
    assert native_problems(converted) == [] and converted.inputs["var1"].required


def test_a_misspelt_variable_field_is_still_refused() -> None:
    variables = {"__ip__": {"type": "ipv4-addr", "vaule": "192.0.2.1"}}
    data = playbook({"commands": [http("GET /x/__ip__:value HTTP/1.1")]}, playbook_variables=variables)
    assert refusals(data) == ["field 'playbook_variables.__ip__.vaule': unknown field (did you mean 'value'?)"]


def test_a_start_line_with_a_relative_target_and_no_slash_in_the_version_is_read() -> None:
    """SOARCA's http example: "GET get HTTP1.1" against an http-api target."""
    (step,) = load_cacao(playbook({"commands": [http("GET get HTTP1.1")]})).steps
    assert step.args["method"] == "GET" and step.args["url"] == "http://api.test.local/get"


@pytest.mark.parametrize("line", ["GET /x HTTP/1.1 extra", "GET /x HTTPS/1.1", "get /x HTTP/1.1", "GET"])
def test_start_lines_that_are_not_method_target_version_are_still_refused(line: str) -> None:
    (message,) = refusals(playbook({"commands": [http(line)]}))
    assert message == (
        f"step '{ACTION}' field 'commands[0].command': expected an HTTP start line such as 'GET /path HTTP/1.1', "
        f"got {line!r}"
    )


def test_a_workflow_written_as_a_list_is_refused_without_quoting_it_whole() -> None:
    data = playbook({"commands": [http("GET / HTTP/1.1")]})
    data["workflow"] = [{"step_uuid": f"step--{n:08d}-0000-4000-8000-000000000000", "type": "end"} for n in range(9)]
    (message,) = refusals(data)
    assert message.startswith("field 'workflow': input should be a valid dictionary, got list [{'step_uuid'")
    assert message.endswith("...]") and len(message) < 160


def test_a_workflow_starting_at_an_action_is_refused_naming_workflow_start() -> None:
    """SOARCA's test playbooks start at an action step; the specification requires a start step there."""
    data = playbook({"commands": [http("GET / HTTP/1.1")]}, workflow_start=ACTION)
    del data["workflow"][START]
    assert refusals(data) == [f"field 'workflow_start': step '{ACTION}' is an action step, not a start step"]
