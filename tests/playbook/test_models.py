"""The native playbook format: parsing YAML and JSON into models, durations, inputs, walking, hashing, schema."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.support.paths import DATA as DATA_DIR
from xorb_orchestrator.models.incident import StepStatus
from xorb_orchestrator.playbook import (
    ActionStep,
    ApprovalStep,
    ForEachStep,
    Goto,
    IfStep,
    InputError,
    Join,
    OnTimeout,
    ParallelStep,
    Playbook,
    PlaybookInvalid,
    PlaybookStep,
    StepState,
    SwitchStep,
    WaitStep,
    format_duration,
    load_document,
    parse_duration,
    parse_playbook_text,
    playbook_json_schema,
    resolve_inputs,
)

VALID = DATA_DIR / "playbooks" / "valid"


def every_kind() -> Playbook:
    return parse_playbook_text((VALID / "every-step-kind.yaml").read_text())


MINIMAL = """
id: minimal
name: Minimal
version: "1"
steps:
  - id: notify
    action: notify.webhook
"""


# --- Durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("1d2h3m4s", 93784)],
)
def test_durations_parse_and_format_back(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "1w", "-5m", "0s", "m5", 300])
def test_bad_durations_are_refused(text: object) -> None:
    with pytest.raises(ValueError, match=r"duration|longer than zero"):
        parse_duration(text)


# --- Parsing -------------------------------------------------------------------------------------


def test_every_step_kind_parses_into_its_model() -> None:
    playbook = every_kind()
    kinds = {placement.step.kind for placement in playbook.walk()}
    assert kinds == {"action", "parallel", "if", "switch", "for_each", "approval", "wait", "playbook"}
    assert isinstance(playbook.step("lookup"), ActionStep)
    decide = playbook.step("decide")
    assert isinstance(decide, IfStep) and decide.if_.startswith("steps.lookup.status")
    block = playbook.step("block")
    assert isinstance(block, ParallelStep) and block.join is Join.ALL and len(block.parallel) == 2
    loop = playbook.step("block-hosts")
    assert isinstance(loop, ForEachStep) and (loop.max_items, loop.concurrency) == (50, 5)
    approval = playbook.step("approve-block")
    assert isinstance(approval, ApprovalStep)
    assert approval.approval.timeout == timedelta(minutes=30)
    assert approval.approval.on_timeout is OnTimeout.ESCALATE
    assert [group.timeout for group in approval.approval.rounds()] == [timedelta(minutes=30), timedelta(hours=1)]
    assert approval.on_failure == Goto(goto="tell-team")
    switch = playbook.step("by-severity")
    assert isinstance(switch, SwitchStep) and list(switch.cases) == ["critical", "high"]
    assert isinstance(playbook.step("hold"), WaitStep)
    child = playbook.step("child")
    assert isinstance(child, PlaybookStep) and child.playbook == "notify-team"
    lookup = playbook.step("lookup")
    assert lookup.retry is not None and lookup.retry.max_attempts == 5 and lookup.on_failure == "continue"
    assert lookup.timeout == timedelta(seconds=30)
    assert playbook.techniques == ["T1071.001", "T1566"]


def test_walk_gives_paths_ancestors_and_document_order() -> None:
    playbook = every_kind()
    placements = playbook.placements()
    assert placements["isolate-host"].path == "steps[1].then[1].parallel[1][0].steps[0]"
    assert [a.id for a in placements["isolate-host"].ancestors] == ["decide", "block", "block-hosts"]
    assert placements["isolate-host"].blocks == ("then", "parallel[1]", "steps")
    assert [loop.id for loop in placements["isolate-host"].loops] == ["block-hosts"]
    assert playbook.step_ids()[:4] == ["lookup", "decide", "approve-block", "block"]
    assert playbook.count_steps() == 14
    assert [p.order for p in playbook.walk()] == list(range(14))


def test_yaml_and_json_of_the_same_playbook_have_the_same_content_hash() -> None:
    from_yaml = every_kind()
    as_json = json.dumps(from_yaml.model_dump(mode="json"), indent=1)
    from_json = parse_playbook_text(as_json, "json")
    assert from_json == from_yaml
    assert from_json.content_sha256() == from_yaml.content_sha256()
    changed = parse_playbook_text(as_json.replace('"30m"', '"31m"'), "json")
    assert changed.content_sha256() != from_yaml.content_sha256()


def test_content_hash_leaves_out_fields_at_their_default() -> None:
    # A field added later with a default must not change the hash of a playbook pinned before it existed.
    spelled_out = every_kind().model_dump(mode="json")
    spelled_out["steps"][0].update({"when": None, "compensate": None})
    spelled_out["steps"][0]["retry"]["backoff"] = 2.0
    assert "backoff" not in every_kind().model_dump(mode="json", exclude_defaults=True)["steps"][0]["retry"]
    assert parse_playbook_text(json.dumps(spelled_out), "json").content_sha256() == every_kind().content_sha256()


def test_playbook_round_trips_through_the_temporal_data_converter() -> None:
    playbook = every_kind()
    converter = pydantic_data_converter.payload_converter
    payloads = converter.to_payloads([playbook])
    assert b'"if":' in payloads[0].data and b'"if_"' not in payloads[0].data  # aliases on the wire
    assert b'"timeout":"30m"' in payloads[0].data  # durations as written
    assert converter.from_payloads(payloads, [Playbook]) == [playbook]


def test_yaml_keeps_timestamps_and_yes_no_as_text() -> None:
    data = load_document("a: 2030-01-01T08:00:00Z\nb: yes\nc: on\nd: true\ne: 1.5\n", "yaml")
    assert data == {"a": "2030-01-01T08:00:00Z", "b": "yes", "c": "on", "d": True, "e": 1.5}


def test_yaml_duplicate_keys_and_syntax_errors_name_the_line() -> None:
    with pytest.raises(PlaybookInvalid, match=r"invalid YAML: line 2: duplicate key 'a'"):
        load_document("a: 1\na: 2\n", "yaml")
    with pytest.raises(PlaybookInvalid, match=r"invalid YAML at line 2 column"):
        load_document("a: [1\nb: 2\n", "yaml")
    with pytest.raises(PlaybookInvalid, match=r"invalid JSON at line 1 column 9"):
        load_document('{"a": 1,}', "json")
    with pytest.raises(PlaybookInvalid, match="duplicate key 'a'"):
        load_document('{"a": 1, "a": 2}', "json")


def test_switch_case_keys_are_text() -> None:
    cases = "{4: [{id: a, action: data.set}], true: [{id: b, action: data.set}]}"
    text = MINIMAL + f"  - id: s\n    switch: incident.severity_id\n    cases: {cases}\n"
    step = parse_playbook_text(text).step("s")
    assert isinstance(step, SwitchStep) and list(step.cases) == ["4", "true"]


def test_version_accepts_whole_numbers_and_refuses_floats() -> None:
    assert parse_playbook_text(MINIMAL.replace('"1"', "2")).version == "2"
    with pytest.raises(PlaybookInvalid) as caught:
        parse_playbook_text(MINIMAL.replace('"1"', "1.10"))
    assert str(caught.value) == "field 'version': write the version as a quoted string, e.g. version: \"1.1\""


def test_models_are_frozen() -> None:
    playbook = parse_playbook_text(MINIMAL)
    with pytest.raises(ValueError, match="frozen"):
        playbook.name = "changed"  # type: ignore[misc]


def test_a_playbook_must_be_a_mapping_with_steps() -> None:
    with pytest.raises(PlaybookInvalid, match="a playbook is a mapping with id, name, version and steps; got list"):
        parse_playbook_text("- a\n- b\n")
    with pytest.raises(PlaybookInvalid) as caught:
        parse_playbook_text('id: x\nname: X\nversion: "1"\nsteps: []\n')
    assert str(caught.value) == "field 'steps': must not be empty"


# --- Inputs --------------------------------------------------------------------------------------


def test_resolve_inputs_applies_defaults_and_checks_types() -> None:
    declared = every_kind().inputs
    assert resolve_inputs(declared, {"ip": "203.0.113.7"}) == {
        "ip": "203.0.113.7",
        "duration": "1h",
        "hosts": [],
        "dry_note": False,
    }
    with pytest.raises(InputError, match="missing required input 'ip'"):
        resolve_inputs(declared, {})
    with pytest.raises(InputError, match=r"unknown input 'ipp' \(declared: dry_note, duration, hosts, ip\)"):
        resolve_inputs(declared, {"ip": "x", "ipp": "y"})
    with pytest.raises(InputError, match="input 'hosts': expected list, got string"):
        resolve_inputs(declared, {"ip": "x", "hosts": "web-1"})
    with pytest.raises(InputError, match="input 'dry_note': expected boolean, got integer"):
        resolve_inputs(declared, {"ip": "x", "dry_note": 1})


def test_step_state_shows_approval_fields_only_for_approvals() -> None:
    state = StepState(status=StepStatus.COMPLETED, result={"id": 7}, approved=True, approvers=["alice"])
    assert state.as_context(is_approval=False) == {"status": "completed", "result": {"id": 7}, "error": None}
    assert state.as_context(is_approval=True)["approvers"] == ["alice"]


# --- JSON Schema ---------------------------------------------------------------------------------


def test_json_schema_describes_every_step_kind_with_descriptions() -> None:
    schema = playbook_json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    definitions = schema["$defs"]
    for name in (
        "ActionStep",
        "ParallelStep",
        "IfStep",
        "SwitchStep",
        "ForEachStep",
        "ApprovalStep",
        "WaitStep",
        "PlaybookStep",
    ):
        assert definitions[name]["additionalProperties"] is False
        assert definitions[name]["description"]
    assert set(definitions["IfStep"]["properties"]) >= {"if", "then", "else", "when", "retry", "on_failure"}
    assert definitions["RetryPolicy"]["properties"]["max_attempts"]["maximum"] == 20
    assert definitions["ForEachStep"]["properties"]["max_items"]["maximum"] == 1000
    timeout = definitions["ApprovalGroup"]["properties"]["timeout"]
    assert timeout["type"] == "string" and "30s" in timeout["examples"]
    step_items = schema["properties"]["steps"]["items"]
    assert len(step_items["oneOf"]) == 8
    assert all(
        prop.get("description") or "$ref" in prop or "allOf" in prop or "anyOf" in prop
        for prop in definitions["ActionStep"]["properties"].values()
    )


def test_switch_selects_the_case_by_the_values_text() -> None:
    switch = every_kind().step("by-severity")
    assert isinstance(switch, SwitchStep)
    assert switch.select("critical")[0] == "critical"
    assert switch.select("low") == ("default", switch.default)
    numbers = parse_playbook_text(
        MINIMAL + "  - id: s\n    switch: incident.severity_id\n    cases: {4: [{id: a, action: data.set}]}\n"
    ).step("s")
    assert isinstance(numbers, SwitchStep)
    assert numbers.select(4)[0] == "4" and numbers.select(5)[0] == "default" and numbers.select(True)[0] == "default"
