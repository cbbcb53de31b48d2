"""CEL expressions and ${{ }} templates: compile, evaluate to plain JSON, static references, the context."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from xorb_orchestrator.models.incident import IncidentStatus, IncidentView
from xorb_orchestrator.models.observable import Observable, ObservableType
from xorb_orchestrator.playbook import (
    ExpressionError,
    StepState,
    compile_expression,
    compile_template,
    evaluate,
    evaluate_condition,
    evaluate_list,
    expression_context,
    incident_context,
    parse_playbook_text,
    render_template,
    render_value,
)
from xorb_orchestrator.playbook.references import analyse
from xorb_orchestrator.playbook.templates import split_template

CONTEXT: dict[str, Any] = {
    "inputs": {"ip": "203.0.113.7", "hosts": ["web-1", "web-2"], "limit": 3, "ratio": 0.5, "note": None},
    "incident": {
        "severity": "high",
        "severity_id": 4,
        "title": "Outbound C2 beacon",
        "observables": [
            {"type": "ip", "value": "10.0.0.5", "role": "src"},
            {"type": "ip", "value": "203.0.113.7", "role": "dest"},
            {"type": "domain", "value": "c2.example", "role": None},
        ],
        "techniques": ["T1071.001"],
        "alert_count": 2,
    },
    "steps": {"block-ip": {"status": "completed", "result": {"rule_id": 42, "tags": ["a"]}, "error": None}},
}


# --- Compiling and evaluating --------------------------------------------------------------------


def test_compile_is_cached() -> None:
    assert compile_expression("inputs.limit + 1") is compile_expression("inputs.limit + 1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("inputs.limit + 1", 4),
        ("inputs.ratio * 2.0", 1.0),
        ("inputs.ip", "203.0.113.7"),
        ("inputs.note", None),
        ("incident.severity_id >= 4 && incident.severity == 'high'", True),
        ("inputs.hosts", ["web-1", "web-2"]),
        ("incident.observables.filter(o, o.type == 'ip').map(o, o.value)", ["10.0.0.5", "203.0.113.7"]),
        ("incident.observables.exists(o, o.role == 'dest' && o.value == inputs.ip)", True),
        ("size(incident.observables)", 3),
        ("steps['block-ip'].result.rule_id", 42),
        ("steps['block-ip'].status == 'completed' ? 'done' : 'not yet'", "done"),
        ("{'ip': inputs.ip, 'n': 1}", {"ip": "203.0.113.7", "n": 1}),
        ("{1: 'one'}", {"1": "one"}),
        ("'T1071.001' in incident.techniques", True),
        ("inputs.ip.startsWith('203.') && inputs.ip.matches('^[0-9.]+$')", True),
        ("timestamp('2030-01-01T08:00:00Z')", "2030-01-01T08:00:00Z"),
        ("duration('5m')", "300s"),
        ("string(inputs.limit) + 'x'", "3x"),
        ("type(inputs.limit) == int", True),
        ("1u + 2u", 3),
    ],
)
def test_evaluate_returns_plain_json(text: str, expected: Any) -> None:
    value = evaluate(compile_expression(text), CONTEXT)
    assert value == expected
    assert type(value) is type(expected)


def test_results_are_plain_python_types() -> None:
    value = evaluate("{'a': [1, 2.5, true, null, 'x']}", {})
    assert value == {"a": [1, 2.5, True, None, "x"]}
    assert [type(item) for item in value["a"]] == [int, float, bool, type(None), str]
    assert type(next(iter(value))) is str


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("inputs.limit ==", "invalid CEL: syntax error at column 14 near '=='"),
        ("inputs.ip = 'x'", "invalid CEL: syntax error at column 11 near \"= 'x'\""),
        ("'unterminated", 'invalid CEL: syntax error at column 1 near "\'unterminated"'),
        ("${{ inputs.ip }}", "invalid CEL: conditions are plain CEL, without ${{ }}"),
        ("   ", "empty expression"),
    ],
)
def test_syntax_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("inputs.missing", "'inputs.missing': no such member in mapping: 'missing'"),
        ("inputs.limit / 0", "'inputs.limit / 0': modulus or divide by zero"),
        ("inputs.ip + 1", "'inputs.ip + 1': no add operation for (string, int)"),
        ("b'x'", "result is bytes, which has no JSON form; convert it with string()"),
    ],
)
def test_evaluation_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate(text, CONTEXT)
    assert str(caught.value) == message


def test_conditions_must_be_booleans_and_for_each_lists() -> None:
    assert evaluate_condition("incident.alert_count > 1", CONTEXT) is True
    with pytest.raises(ExpressionError, match=r"'incident\.alert_count': expected a boolean, got integer"):
        evaluate_condition("incident.alert_count", CONTEXT)
    assert evaluate_list("inputs.hosts", CONTEXT) == ["web-1", "web-2"]
    with pytest.raises(ExpressionError, match=r"'inputs\.ip': expected a list, got string"):
        evaluate_list("inputs.ip", CONTEXT)


def test_no_access_to_python_internals() -> None:
    for text in ("inputs.__class__", "inputs.ip.__class__", "inputs['__dict__']"):
        with pytest.raises(ExpressionError, match=r"no such member|does not support field selection|no such key"):
            evaluate(text, CONTEXT)
    for text in ("__import__('os')", "open('/etc/passwd')", "getattr(inputs, 'x')", "inputs.ip.__len__()"):
        with pytest.raises(ExpressionError, match="undeclared reference"):
            evaluate(text, CONTEXT)


def test_evaluation_is_deterministic_and_does_not_change_the_context() -> None:
    before = repr(CONTEXT)
    results = {repr(evaluate("incident.observables.map(o, o.value + inputs.ip)", CONTEXT)) for _ in range(5)}
    assert len(results) == 1
    assert repr(CONTEXT) == before


# --- Templates -----------------------------------------------------------------------------------


def test_a_whole_expression_template_keeps_its_type() -> None:
    assert render_template("${{ inputs.hosts }}", CONTEXT) == ["web-1", "web-2"]
    assert render_template("${{inputs.limit}}", CONTEXT) == 3
    assert render_template("${{ steps['block-ip'].result }}", CONTEXT) == {"rule_id": 42, "tags": ["a"]}


def test_mixed_templates_interpolate_text() -> None:
    text = "block ${{ inputs.ip }} x${{ inputs.limit }} ${{ inputs.hosts }} [${{ inputs.note }}] ${{ true }}"
    assert render_template(text, CONTEXT) == 'block 203.0.113.7 x3 ["web-1","web-2"] [] true'


def test_render_value_walks_objects_and_lists() -> None:
    args = {"ip": "${{ inputs.ip }}", "hosts": ["${{ inputs.hosts[0] }}", "literal"], "n": 5, "nested": {"b": True}}
    assert render_value(args, CONTEXT) == {
        "ip": "203.0.113.7",
        "hosts": ["web-1", "literal"],
        "n": 5,
        "nested": {"b": True},
    }


def test_escaped_template_is_literal() -> None:
    assert render_template("keep $${{ this }} as is", CONTEXT) == "keep ${{ this }} as is"
    assert compile_template("a $${{ b }} c").expressions == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ip ${{ inputs.ip", "unclosed ${{ at character 4: add }}"),
        ("${{ }}", "empty ${{ }}"),
        ("{{ inputs.ip }}", "{{ inputs.ip }} is not a template: write ${{ inputs.ip }}"),
        ("x ${inputs.ip} y", "${inputs.ip} is not a template: write ${{ inputs.ip }}"),
        ("${{ inputs.ip == }}", "invalid CEL: syntax error at column 11 near '=='"),
    ],
)
def test_malformed_templates_are_refused(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_template(text)
    assert str(caught.value) == message


def test_template_pieces() -> None:
    pieces = split_template("a ${{ x }}b${{y}}")
    assert [(p.text, p.expression) for p in pieces] == [("a ", False), ("x", True), ("b", False), ("y", True)]


# --- Static references ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "references", "problems"),
    [
        ("inputs.ip == 'x' && steps.block.status == 'ok'", ["inputs.ip", "steps.block.status"], []),
        ("steps['block-ip'].result.rules[0].id", ["steps['block-ip'].result.rules[...]"], []),
        ("incident.observables.map(o, o.value + inputs.suffix)", ["incident.observables", "inputs.suffix"], []),
        ("inputs[inputs.key]", ["inputs[...]", "inputs.key"], []),
        ("has(inputs.x) && type(item) == string", ["inputs.x", "item"], []),
        ("foo.bar", [], ["unknown name 'foo' (expressions can use inputs, incident, steps and item)"]),
        ("len(inputs.hosts)", ["inputs.hosts"], ["unknown function len() (did you mean size()?)"]),
        ("inputs.ip.startswith('1')", ["inputs.ip"], ["unknown function .startswith() (did you mean startsWith()?)"]),
        (
            "inputs.hosts.all(h)",
            ["inputs.hosts"],
            ["all() takes a variable name and an expression, e.g. list.all(x, x > 0)"],
        ),
        ("Msg{a: 1}", [], ["message construction (Name{...}) is not supported"]),
    ],
)
def test_analyse_finds_references_and_problems(text: str, references: list[str], problems: list[str]) -> None:
    analysis = analyse(compile_expression(text).ast)
    assert [str(r) for r in analysis.references] == references
    assert analysis.problems == problems


# --- The context ---------------------------------------------------------------------------------


def test_incident_context_from_the_incident_view() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    view = IncidentView(
        incident_id="incident-1",
        correlation_key="k",
        status=IncidentStatus.RUNNING,
        severity="high",
        severity_id=4,
        title="C2",
        source="suricata",
        rule="ET beacon",
        alert_count=2,
        first_seen=now,
        last_seen=now,
        created_at=now,
        updated_at=now,
        observables=[Observable(type=ObservableType.IP, value="203.0.113.7", role="dest")],
        techniques=["T1071.001"],
    )
    assert incident_context(view) == {
        "id": "incident-1",
        "title": "C2",
        "severity": "high",
        "severity_id": 4,
        "source": "suricata",
        "rule": "ET beacon",
        "observables": [{"type": "ip", "value": "203.0.113.7", "role": "dest"}],
        "techniques": ["T1071.001"],
        "alert_count": 2,
    }


def test_expression_context_fills_every_step_and_binds_item_only_in_loops() -> None:
    playbook = parse_playbook_text(
        """
id: ctx
name: Ctx
version: "1"
steps:
  - id: ask
    approval: {approvers: {roles: [soc]}, timeout: 1h}
  - id: each
    for_each: "incident.observables"
    steps: [{id: one, action: data.set, args: {v: "${{ item.value }}"}}]
"""
    )
    context = playbook.expression_context(inputs={}, incident={"title": "t"}, steps={})
    assert context["steps"]["ask"] == {
        "status": "pending",
        "result": {},
        "error": None,
        "approved": False,
        "approvers": [],
    }
    assert context["steps"]["one"]["status"] == "pending"
    assert "item" not in context
    assert context["incident"]["observables"] == [] and context["incident"]["rule"] is None
    in_loop = expression_context(
        inputs={}, incident={}, steps={"ask": StepState(approved=True)}, item={"value": "x"}, in_loop=True
    )
    assert render_template("${{ item.value }}", in_loop) == "x"
