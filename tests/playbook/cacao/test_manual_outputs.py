"""out_args on a manual command: the person who approves gives the values, which become the step's outputs
(`approval.outputs`, read as steps['<id>'].result.<name>)."""

from __future__ import annotations

import pytest

from tests.playbook.cacao.fixtures import ACTION, END, SECOND, http, native_problems, playbook, rendered
from xorb_orchestrator.playbook import ActionStep, ApprovalStep, PlaybookInvalid, StepState
from xorb_orchestrator.playbook.cacao import load_cacao
from xorb_orchestrator.playbook.step_status import StepStatus

READY = {"__ready__": {"type": "string", "description": "true or false once the host is isolated"}}


def manual(**fields: object) -> dict[str, object]:
    return {"name": "Isolate", "commands": [{"type": "manual", "command": "Unplug the host"}], **fields}


def test_out_args_of_a_manual_command_are_asked_in_the_approval_and_read_later() -> None:
    data = playbook(
        manual(out_args=["__ready__"]),
        {"commands": [http("POST /status/__ready__:value HTTP/1.1")]},
        playbook_variables=READY,
    )
    converted = load_cacao(data)
    assert native_problems(converted) == []
    approval, report = converted.steps
    assert isinstance(approval, ApprovalStep) and isinstance(report, ActionStep)
    assert approval.approval.outputs == ["ready"]
    assert approval.approval.message == (
        "Isolate: Unplug the host (give with your approval: ready: true or false once the host is isolated)"
    )
    assert report.args["url"] == f"http://api.test.local/status/${{{{ steps['{ACTION}'].result.ready }}}}"
    answered = {ACTION: StepState(status=StepStatus.COMPLETED, approved=True, result={"ready": "true"})}
    assert rendered(report.args, {"ready": None}, answered)["url"] == "http://api.test.local/status/true"


def test_a_condition_reads_the_value_the_person_gave() -> None:
    data = playbook(
        manual(out_args=["__ready__"]), {"commands": [http("GET /done HTTP/1.1")]}, playbook_variables=READY
    )
    check = "if-condition--00000000-0000-4000-8000-0000000000cc"
    data["workflow"][ACTION]["on_completion"] = check
    data["workflow"][check] = {
        "type": "if-condition",
        "condition": "__ready__:value = 'true'",
        "on_true": SECOND,
        "on_completion": END,
    }
    data["workflow"][SECOND]["on_completion"] = END
    converted = load_cacao(data)
    assert native_problems(converted) == []
    assert converted.steps[1].if_ == f"steps['{ACTION}'].result.ready == \"true\""


def test_an_output_named_like_a_cel_keyword_is_read_by_index() -> None:
    data = playbook(
        manual(out_args=["__in__"]),
        {"commands": [http("GET /x/__in__:value HTTP/1.1")]},
        playbook_variables={"__in__": {"type": "string"}},
    )
    converted = load_cacao(data)
    assert native_problems(converted) == []
    assert converted.steps[0].approval.outputs == ["in"]
    assert f"steps['{ACTION}'].result['in']" in converted.steps[1].args["url"]


def test_a_manual_command_followed_by_an_http_one_assigns_the_http_body() -> None:
    step = manual(out_args=["__ready__"])
    step["commands"] = [*step["commands"], http("GET /state HTTP/1.1")]
    data = playbook(step, {"commands": [http("GET /x/__ready__:value HTTP/1.1")]}, playbook_variables=READY)
    converted = load_cacao(data)
    assert native_problems(converted) == []
    approval = converted.steps[0]
    assert isinstance(approval, ApprovalStep) and approval.approval.outputs == []
    assert f"steps['{ACTION}-c2'].result.body" in converted.steps[2].args["url"]


@pytest.mark.parametrize(
    ("variables", "out_args", "message"),
    [
        ({"__" + "v" * 70 + "__": {"type": "string"}}, ["__" + "v" * 70 + "__"],
         f"'__{'v' * 70}__' is too long to be asked in an approval (at most 64 characters)"),
        ({"__a-b__": {"type": "string"}, "__a_b__": {"type": "string"}}, ["__a-b__", "__a_b__"],
         "'__a_b__' would be asked as 'a_b', like another out_arg"),
        ({"__c__": {"type": "string", "constant": True}}, ["__c__"], "variable '__c__' is a constant"),
    ],
)  # fmt: skip
def test_out_args_that_cannot_be_asked_are_refused(
    variables: dict[str, object], out_args: list[str], message: str
) -> None:
    with pytest.raises(PlaybookInvalid) as caught:
        load_cacao(playbook(manual(out_args=out_args, step_variables=variables)))
    index = len(out_args) - 1 if len(out_args) > 1 else 0
    assert [str(e) for e in caught.value.errors] == [f"step '{ACTION}' field 'out_args[{index}]': {message}"]


def test_the_second_step_is_unaffected_when_the_manual_step_has_no_out_args() -> None:
    converted = load_cacao(playbook(manual(), {"commands": [http("GET /x HTTP/1.1")]}))
    approval, _ = converted.steps
    assert approval.approval.outputs == [] and approval.approval.message == "Isolate: Unplug the host"
    assert SECOND in converted.step_ids()
