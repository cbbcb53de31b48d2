"""The pure parts of the interpreter, without Temporal: what runs next (sequencing, goto, when, on_failure),
branch choices, for_each bounds, wait times, instance keys, pinning a run and the approval check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.playbook_runs import incident, playbook
from xorb_orchestrator.models.ids import instance_key
from xorb_orchestrator.models.playbook_run import ApprovalDecision, ApprovalRequest, ApprovalVote, PlaybookRunInput
from xorb_orchestrator.playbook import ExpressionError, ForEachStep, IfStep, InputError, SwitchStep, WaitStep
from xorb_orchestrator.workflows.playbook.scheduler import (
    Cursor,
    Done,
    Failed,
    Jump,
    StepFailure,
    choose_block,
    loop_items,
    should_run,
    wait_time,
)

ROUTING = playbook(
    """
id: routing
name: Routing
version: "1"
inputs: {hosts: {type: list, default: []}, n: {type: integer, default: 3}}
steps:
  - {id: a, action: data.set, on_failure: continue}
  - {id: b, action: data.set, on_failure: {goto: e}}
  - id: c
    if: "inputs.n > 2"
    then:
      - {id: c1, action: data.set, on_failure: {goto: c3}}
      - {id: c2, action: data.set}
      - {id: c3, action: data.set, on_failure: {goto: e}}
    else:
      - {id: c4, action: data.set}
  - {id: d, action: data.set}
  - id: e
    switch: "inputs.n"
    cases: {"3": [{id: three, action: data.set}], "many": [{id: many, action: data.set}]}
  - id: f
    for_each: "inputs.hosts"
    max_items: 2
    steps: [{id: each, action: data.set, when: "item != 'skip'"}]
  - {id: g, wait: {until: "${{ inputs.hosts[0] }}"}}
"""
)
STEPS = {placement.step.id: placement.step for placement in ROUTING.walk()}


def context(**inputs: object) -> dict:
    values = {"hosts": [], "n": 3}
    values.update(inputs)
    return ROUTING.expression_context(inputs=values, incident=incident(), steps={})


def test_steps_run_in_order_and_the_list_ends_done() -> None:
    cursor = Cursor(ROUTING.steps)
    seen = []
    while (step := cursor.current()) is not None:
        seen.append(step.id)
        assert cursor.advance(Done()) in (None, Done())
    assert seen == ["a", "b", "c", "d", "e", "f", "g"]
    assert Cursor([]).current() is None


def test_on_failure_continue_goes_on_and_abort_ends_the_list() -> None:
    cursor = Cursor(ROUTING.steps)
    assert cursor.advance(Failed("a", "boom")) is None and cursor.current().id == "b"
    cursor = Cursor(ROUTING.steps, start=3)  # d: on_failure abort (the default)
    assert cursor.advance(Failed("d", "boom")) == Failed("d", "boom")


def test_goto_jumps_forward_in_the_list_or_hands_the_jump_to_the_enclosing_one() -> None:
    cursor = Cursor(ROUTING.steps, start=1)
    assert cursor.advance(Failed("b", "boom")) is None and cursor.current().id == "e"  # d and c skipped
    then = Cursor(STEPS["c"].then)
    assert then.advance(Failed("c1", "x")) is None and then.current().id == "c3"
    assert then.advance(Failed("c3", "x")) == Jump("e")  # not in `then`: the enclosing list looks for it
    outer = Cursor(ROUTING.steps, start=2)
    assert outer.advance(Jump("e")) is None and outer.current().id == "e"
    assert outer.advance(Jump("a")) == Jump("a")  # never backwards: passed up (validation refuses it anyway)


def test_when_and_branch_choices() -> None:
    assert should_run(STEPS["a"], context())
    assert not should_run(STEPS["each"], {**context(), "item": "skip"})
    assert isinstance(STEPS["c"], IfStep)
    assert choose_block(STEPS["c"], context())[0] == "then"
    assert choose_block(STEPS["c"], context(n=1)) == ("else", STEPS["c"].else_)
    assert isinstance(STEPS["e"], SwitchStep)
    assert choose_block(STEPS["e"], context())[0] == "3"  # 3 matches the case "3"
    assert choose_block(STEPS["e"], context(n=4)) == ("default", [])


def test_for_each_items_are_bounded_by_max_items() -> None:
    step = STEPS["f"]
    assert isinstance(step, ForEachStep)
    assert loop_items(step, context(hosts=["h1", "h2"])) == ["h1", "h2"]
    with pytest.raises(StepFailure, match="for_each gave 3 items, more than max_items 2: no item was run"):
        loop_items(step, context(hosts=["h1", "h2", "h3"]))


def test_wait_time_from_a_delay_a_deadline_or_an_expression() -> None:
    now = datetime(2030, 1, 1, 7, 0, tzinfo=UTC)
    step = STEPS["g"]
    assert isinstance(step, WaitStep)
    assert wait_time(step.wait, context(hosts=["2030-01-01T08:00:00Z"]), now) == timedelta(hours=1)
    assert wait_time(step.wait, context(hosts=["2029-01-01T08:00:00+00:00"]), now) == timedelta(0)
    with pytest.raises(StepFailure, match="not an RFC 3339 time"):
        wait_time(step.wait, context(hosts=["tomorrow"]), now)
    with pytest.raises(ExpressionError):
        wait_time(step.wait, context(hosts=[]), now)  # index out of range: the step fails


def test_instance_keys_are_stable_per_workflow_step_and_item() -> None:
    assert instance_key("playbook-incident-1-1", "isolate", ()) == "playbook-incident-1-1/isolate"
    assert instance_key("playbook-incident-1-1", "isolate", (2, 0)) == "playbook-incident-1-1/isolate#2#0"


def test_pin_resolves_inputs_and_carries_the_playbooks_it_runs() -> None:
    leaf = playbook('id: leaf\nname: Leaf\nversion: "1"\nsteps: [{id: s, action: data.set}]\n')
    mid = playbook('id: mid\nname: Mid\nversion: "1"\nsteps: [{id: m, playbook: leaf}]\n', {"leaf": leaf})
    top = playbook(
        'id: top\nname: Top\nversion: "1"\ninputs: {n: {type: integer, default: 1}}\nsteps: [{id: t, playbook: mid}]\n',
        {"mid": mid, "leaf": leaf},
    )
    pinned = PlaybookRunInput.pin(top, incident=incident(), catalog={"mid": mid, "leaf": leaf, "other": top})
    assert set(pinned.library) == {"mid", "leaf"}
    assert pinned.inputs == {"n": 1} and pinned.playbook_sha256 == top.content_sha256()
    with pytest.raises(InputError, match="unknown input 'x'"):
        PlaybookRunInput.pin(top, incident=incident(), inputs={"x": 1})


def decide(request: ApprovalRequest, approver: str, *roles: str, **changes: object) -> ApprovalDecision:
    values: dict[str, object] = {"incident_id": request.incident_id, "step_id": request.step_id}
    values.update(approver=approver, roles=list(roles), **changes)
    return ApprovalDecision.model_validate(values)


def test_the_approval_check() -> None:
    request = ApprovalRequest(
        incident_id="incident-1", step_id="approve", roles=["soc-lead"], people=["alice"], required=2,
        deadline=datetime.now(UTC),
    )  # fmt: skip
    assert request.refusal(decide(request, "alice")) is None
    assert request.eligible("bob", ["analyst", "soc-lead"]) == "soc-lead"
    assert request.refusal(decide(request, "bob", "analyst")) == (
        "bob may not decide step 'approve' (allowed: role soc-lead, alice)"
    )
    assert request.refusal(decide(request, "bob", "soc-lead", incident_id="incident-2")) == (
        "this approval belongs to incident incident-1, not incident-2"
    )
    assert request.refusal(decide(request, "bob", "soc-lead", step_id="other")) == (
        "this approval is for step 'approve', not 'other'"
    )
    request.votes.append(ApprovalVote(approver="alice", approve=True, at=datetime.now(UTC)))
    assert (
        request.refusal(decide(request, "alice")) == "alice has already decided step 'approve': one person counts once"
    )
    request.votes.append(ApprovalVote(approver="bob", role="soc-lead", approve=True, at=datetime.now(UTC)))
    assert request.approvals() == 2
