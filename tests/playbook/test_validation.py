"""Validation as users see it: every broken example fails with its exact message, the valid ones pass,
and `xorb playbook validate|schema` print what the docs say."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.paths import DATA as DATA_DIR
from tests.support.paths import ROOT
from xorb_orchestrator.cli.main import app
from xorb_orchestrator.playbook import (
    BUILTIN_ACTIONS,
    PlaybookInvalid,
    load_playbook_text,
    parse_playbook_text,
    validate_playbook,
)
from xorb_orchestrator.playbook.catalog import (
    PlaybookLoadError,
    check_files,
    load_catalog,
    playbook_files,
)

DATA = DATA_DIR / "playbooks"
BROKEN = DATA / "broken"
VALID = DATA / "valid"

# One flaw per file, and the exact line `xorb playbook validate` prints for it (after "<file>: ").
EXPECTED = {
    "unknown-input.yaml": "step 'block-ip' field 'args.ip': unknown input 'ipp' (declared: ip, duration)",
    "unknown-step.yaml": "step 'report' field 'args.text': unknown step 'lookupp' (did you mean 'lookup'?)",
    "step-runs-later.yaml": "step 'notify' field 'args.text': step 'block' runs after this step",
    "item-outside-loop.yaml": "step 'isolate' field 'args.host': 'item' is only defined inside the steps of a for_each",
    "cel-syntax.yaml": "step 'notify' field 'when': invalid CEL: syntax error at column 22 near '>='",
    "duplicate-id.yaml": "step 'notify' field 'id': duplicate step id (also used by the step at steps[0])",
    "goto-unknown.yaml": "step 'block' field 'on_failure.goto': unknown step 'cleanup' (did you mean 'clean-up'?)",
    "goto-backward.yaml": "step 'block' field 'on_failure.goto': step 'notify' comes before this step; "
    "jumps only go forward",
    "unknown-field.yaml": "step 'block' field 'retyr': unknown field (did you mean 'retry'?)",
    "missing-kind.yaml": "step 'block' field 'acton': unknown field (did you mean 'action'?)",
    "two-kinds.yaml": "step 'block': has 'action' and 'wait': a step has exactly one kind",
    "approval-too-many.yaml": "step 'approve' field 'approval.required': 3 approvals required but only 2 people "
    "named (and no roles)",
    "escalate-missing.yaml": "step 'approve' field 'approval.escalate': on_timeout is escalate: say who to escalate to",
    "escalate-unexpected.yaml": "step 'approve' field 'approval.escalate': only allowed when on_timeout is escalate "
    "(it is deny)",
    "for-each-too-many.yaml": "step 'each-host' field 'max_items': must be at most 1000, got 5000",
    "retry-too-many.yaml": "step 'block' field 'retry.max_attempts': must be at most 20, got 50",
    "jinja-template.yaml": "step 'block' field 'args.ip': {{ inputs.ip }} is not a template: write ${{ inputs.ip }}",
    "dashed-step.yaml": "step 'notify' field 'args.text': write steps['block-ip'] for an id with '-' "
    "(steps.block-ip reads as a subtraction)",
    "other-branch.yaml": "step 'block-core' field 'args.after': step 'block-edge' is in another branch of "
    "parallel 'contain'",
    "loop-body.yaml": "step 'notify' field 'args.text': step 'block' runs once per item of for_each 'each-ip'; "
    "after the loop read steps['each-ip'].result",
    "bad-duration.yaml": "step 'pause' field 'wait.delay': expected a duration such as 30s, 5m, 2h or 1d, "
    "got '5 minutes'",
    "bad-deadline.yaml": "step 'pause' field 'wait.until': 'tomorrow 8am' is not an RFC 3339 time such as "
    "2030-01-01T08:00:00Z (or a ${{ }} expression)",
    "unknown-function.yaml": "step 'notify' field 'when': unknown function lenght() (did you mean size()?)",
    "approved-on-action.yaml": "step 'notify' field 'when': step 'block' has no field 'approved' "
    "(fields: status, result, error)",
    "bad-technique.yaml": "field 'tags[2]': 'T566.001' looks like an ATT&CK technique id but is not of the form "
    "T1234 or T1234.001",
    "default-type.yaml": "field 'inputs.duration.default': expected integer, got string",
    "duplicate-key.yaml": "invalid YAML: line 8: duplicate key 'args'",
    "unknown-action.json": "step 'notify' field 'action': unknown action 'notify.slack' "
    "(known: data.merge, data.set, http.request, notify.approval, notify.webhook)",
    "unknown-playbook.json": "step 'contain' field 'playbook': unknown playbook 'contain-hots' (known: none)",
}


def test_every_broken_example_has_its_expected_message() -> None:
    assert sorted(path.name for path in BROKEN.iterdir()) == sorted(EXPECTED)
    assert len(EXPECTED) >= 12


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_playbook_fails_with_its_exact_message(name: str) -> None:
    path = BROKEN / name
    [report] = check_files([path])
    assert report.messages() == [f"{path}: {EXPECTED[name]}"]


def test_valid_examples_pass_together() -> None:
    reports = check_files(playbook_files([VALID]))
    assert [report.path.name for report in reports] == ["every-step-kind.yaml", "notify-team.json"]
    assert all(report.ok for report in reports), [m for r in reports for m in r.messages()]


# --- The CLI -------------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_cli_validate_prints_ok_lines() -> None:
    code, out, err = run("playbook", "validate", str(VALID))
    assert code == 0, err
    assert out.splitlines() == [
        f"OK {VALID / 'every-step-kind.yaml'} (contain-ip-full v1.2.0, 14 steps)",
        f"OK {VALID / 'notify-team.json'} (notify-team v1, 1 step)",
    ]


def test_cli_validate_prints_each_error_and_exits_1_without_traceback() -> None:
    files = [str(BROKEN / "unknown-input.yaml"), str(VALID / "notify-team.json"), str(BROKEN / "nope.yaml")]
    code, out, err = run("playbook", "validate", *files)
    assert code == 1
    assert out.splitlines() == [f"OK {VALID / 'notify-team.json'} (notify-team v1, 1 step)"]
    assert err.splitlines() == [
        f"{BROKEN / 'unknown-input.yaml'}: {EXPECTED['unknown-input.yaml']}",
        f"{BROKEN / 'nope.yaml'}: cannot read: No such file or directory",
    ]
    assert "Traceback" not in out + err


def test_cli_validate_resolves_child_playbooks_from_the_playbooks_dir(tmp_path: Path) -> None:
    child = VALID / "notify-team.json"
    code, _, err = run("playbook", "validate", str(VALID / "every-step-kind.yaml"), "--playbooks-dir", str(tmp_path))
    assert code == 1 and "unknown playbook 'notify-team' (known: none)" in err
    (tmp_path / "notify-team.json").write_text(child.read_text())
    code, out, err = run("playbook", "validate", str(VALID / "every-step-kind.yaml"), "--playbooks-dir", str(tmp_path))
    assert code == 0, err
    assert out.startswith("OK ")


def test_cli_schema_prints_the_json_schema() -> None:
    code, out, _ = run("playbook", "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["title"] == "xorb-orchestrator playbook"
    assert "ForEachStep" in schema["$defs"]


# --- Loading a directory -------------------------------------------------------------------------


def test_catalog_maps_ids_to_playbook_and_content_hash() -> None:
    catalog = load_catalog(VALID)
    assert sorted(catalog) == ["contain-ip-full", "notify-team"]
    entry = catalog["contain-ip-full"]
    assert entry.sha256 == entry.playbook.content_sha256() and len(entry.sha256) == 64
    assert entry.path == VALID / "every-step-kind.yaml"
    assert set(catalog.playbooks()) == set(catalog)


def test_catalog_refuses_two_files_with_the_same_id(tmp_path: Path) -> None:
    text = (VALID / "notify-team.json").read_text()
    (tmp_path / "a.json").write_text(text)
    (tmp_path / "b.json").write_text(text)
    with pytest.raises(PlaybookLoadError) as caught:
        load_catalog(tmp_path)
    assert caught.value.messages == [
        f"{tmp_path / 'b.json'}: field 'id': playbook id 'notify-team' is also used by {tmp_path / 'a.json'}"
    ]


def test_catalog_reports_every_bad_file_and_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PlaybookLoadError, match="playbook directory not found"):
        load_catalog(tmp_path / "missing")
    assert len(load_catalog(tmp_path / "missing", missing_ok=True)) == 0
    with pytest.raises(PlaybookLoadError) as caught:
        load_catalog(BROKEN)
    assert len(caught.value.messages) == len(EXPECTED)


def test_playbooks_that_run_each_other_in_a_loop_are_refused(tmp_path: Path) -> None:
    for name, child in (("a", "b"), ("b", "a")):
        (tmp_path / f"{name}.yaml").write_text(
            f'id: {name}\nname: {name}\nversion: "1"\nsteps:\n  - id: run\n    playbook: {child}\n'
        )
    messages = [m for report in check_files(playbook_files([tmp_path])) for m in report.messages()]
    assert messages == [
        f"{tmp_path / 'a.yaml'}: step 'run' field 'playbook': playbooks run each other in a loop: a -> b -> a",
        f"{tmp_path / 'b.yaml'}: step 'run' field 'playbook': playbooks run each other in a loop: b -> a -> b",
    ]


# --- Rules, one by one ---------------------------------------------------------------------------

HEAD = """
id: t
name: T
version: "1"
inputs:
  ip: {type: string, required: true}
steps:
"""


def problems(steps: str, actions: dict[str, bool] | None = None, head: str = HEAD) -> list[str]:
    try:
        load_playbook_text(head + steps, actions=actions)
    except PlaybookInvalid as exc:
        return [str(error) for error in exc.errors]
    return []


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (  # an undo may read its own step's result
            "  - id: block\n    action: http.request\n"
            "    compensate: {action: http.request, args: {rule: '${{ steps.block.result.rule_id }}'}}\n",
            [],
        ),
        (  # ...but the step itself may not
            "  - id: block\n    action: http.request\n    args: {x: '${{ steps.block.status }}'}\n",
            [
                "step 'block' field 'args.x': step 'block' is this step: a step cannot read its own state "
                "(only its compensate can)"
            ],
        ),
        (
            "  - id: outer\n    if: 'true'\n    then:\n      - id: inner\n        action: data.set\n"
            "        args: {x: '${{ steps.outer.status }}'}\n",
            ["step 'inner' field 'args.x': step 'outer' encloses this step and has not finished when it runs"],
        ),
        (
            "  - id: outer\n    if: 'true'\n    then: [{id: a, action: data.set}]\n"
            "    else: [{id: b, action: data.set, args: {x: '${{ steps.a.result }}'}}]\n",
            ["step 'b' field 'args.x': step 'a' is in another branch of if 'outer'"],
        ),
        (  # steps nested in earlier steps are visible later, for_each bodies excepted
            "  - id: outer\n    if: 'true'\n    then: [{id: a, action: data.set}]\n"
            "  - id: after\n    action: data.set\n    args: {x: '${{ steps.a.status }}'}\n",
            [],
        ),
        (
            "  - id: a\n    action: data.set\n    on_failure: {goto: inner}\n"
            "  - id: outer\n    if: 'true'\n    then: [{id: inner, action: data.set}]\n",
            [
                "step 'a' field 'on_failure.goto': step 'inner' is not a later step of this list or of an "
                "enclosing one (a jump cannot enter a block, or leave a parallel branch or a for_each)"
            ],
        ),
        (  # out of an if block to a later step: fine
            "  - id: outer\n    if: 'true'\n    then: [{id: inner, action: data.set, on_failure: {goto: last}}]\n"
            "  - id: last\n    action: data.set\n",
            [],
        ),
        (
            "  - id: p\n    parallel: [[{id: inner, action: data.set, on_failure: {goto: last}}]]\n"
            "  - id: last\n    action: data.set\n",
            [
                "step 'inner' field 'on_failure.goto': step 'last' is not a later step of this list or of an enclosing "
                "one (a jump cannot enter a block, or leave a parallel branch or a for_each)"
            ],
        ),
        (
            "  - id: w\n    wait: {delay: 5m}\n    retry: {max_attempts: 2}\n",
            ["step 'w' field 'retry': retry applies to action and playbook steps, not to wait steps"],
        ),
        (
            "  - id: a\n    action: data.set\n    retry: {initial_interval: 5m, max_interval: 1m}\n",
            ["step 'a' field 'retry.max_interval': must not be shorter than initial_interval"],
        ),
        (
            "  - id: ap\n    approval: {approvers: {roles: [soc]}, timeout: 1h}\n    timeout: 2h\n",
            ["step 'ap' field 'timeout': an approval's deadline is approval.timeout"],
        ),
        (
            "  - id: ap\n    approval: {approvers: {people: [alice, alice]}, timeout: 1h}\n",
            ["step 'ap' field 'approval.approvers.people': 'alice' is listed twice"],
        ),
        (
            "  - id: ap\n    approval: {approvers: {}, timeout: 1h}\n",
            ["step 'ap' field 'approval.approvers': name at least one role or person"],
        ),
        (  # with roles, N may exceed the named people
            "  - id: ap\n    approval: {approvers: {roles: [soc], people: [alice]}, required: 2, timeout: 1h}\n",
            [],
        ),
        (
            "  - id: ap\n    approval:\n      approvers: {roles: [soc]}\n      timeout: 1h\n"
            "      on_timeout: escalate\n      escalate: {approvers: {people: [bob]}, required: 2, timeout: 1h}\n",
            [
                "step 'ap' field 'approval.escalate.required': 2 approvals required but only 1 people named "
                "(and no roles)"
            ],
        ),
        (
            "  - id: ap\n    approval: {approvers: {roles: [soc]}}\n",
            ["step 'ap' field 'approval.timeout': missing required field"],
        ),
        (
            "  - id: w\n    wait: {delay: 5m, until: '2030-01-01T08:00:00Z'}\n",
            ["step 'w' field 'wait': give exactly one of delay and until"],
        ),
        ("  - id: w\n    wait: {until: '${{ inputs.ip }}'}\n", []),
        (
            "  - id: w\n    wait: {until: '2030-01-01T08:00:00'}\n",
            [
                "step 'w' field 'wait.until': '2030-01-01T08:00:00' is not an RFC 3339 time such as "
                "2030-01-01T08:00:00Z (or a ${{ }} expression)"
            ],
        ),
        (
            "  - id: fe\n    for_each: inputs.ip\n    when: 'item == 1'\n    steps: [{id: x, action: data.set}]\n",
            ["step 'fe' field 'when': 'item' is only defined inside the steps of a for_each"],
        ),
        (
            "  - id: fe\n    for_each: '[[1], [2]]'\n    concurrency: 0\n    steps: [{id: x, action: data.set}]\n",
            ["step 'fe' field 'concurrency': must be at least 1, got 0"],
        ),
        (
            "  - id: a\n    action: data.set\n    args: {x: '${{ inputs[inputs.ip] }}', y: '${{ steps }}'}\n",
            [
                "step 'a' field 'args.x': read one input by its literal name: inputs.<name>",
                "step 'a' field 'args.y': read one step by its literal id: steps['<id>']",
            ],
        ),
        (
            "  - id: a\n    action: data.set\n    args: {x: '${{ incident.severty }}'}\n",
            [
                "step 'a' field 'args.x': unknown incident field 'severty' (did you mean 'severity'?) "
                "(fields: id, title, severity, severity_id, source, rule, observables, techniques, alert_count)"
            ],
        ),
        (
            "  - id: a\n    action: data.set\n    on_failure: {goto: a}\n",
            ["step 'a' field 'on_failure.goto': a step cannot jump to itself; jumps only go forward"],
        ),
        (
            "  - id: a\n    playbook: t\n",
            ["step 'a' field 'playbook': a playbook cannot run itself"],
        ),
        (
            "  - {id: a, action: data.set}\n  - id: 9lives\n    action: data.set\n",
            [
                "step '9lives' field 'id': '9lives' must start with a letter, then letters, digits, '_' or '-' "
                "(at most 64 characters)"
            ],
        ),
        (
            "  - id: a\n    if: 'true'\n    then:\n      - {action: data.set}\n",
            ["step 'steps[0].then[0]' field 'id': missing required field"],
        ),
        (
            "  - id: a\n    join: any\n    parallel: [[]]\n",
            ["step 'a' field 'parallel[0]': must not be empty"],
        ),
        (
            "  - id: a\n    action: data.set\n    on_failure: retry\n",
            ["step 'a' field 'on_failure': expected abort, continue or {goto: <step id>}, got 'retry'"],
        ),
        (
            "  - id: a\n    parallel: [[{id: b, action: Data.Set}]]\n",
            ["step 'b' field 'action': 'Data.Set' must be a dotted action name such as notify.webhook"],
        ),
        (
            "  - id: a\n    switch: incident.severity\n    cases: {high: [{id: b, action: data.set, args: 5}]}\n",
            ["step 'b' field 'args': expected an object (mapping), got number 5"],
        ),
    ],
)
def test_rules(steps: str, expected: list[str]) -> None:
    assert problems(steps) == expected


def test_playbook_level_fields() -> None:
    head = 'id: Bad_Id\nname: T\nversion: "1"\nsteps: [{id: a, action: data.set}]\n'
    assert problems("", head=head) == [
        "field 'id': 'Bad_Id' must be lower-case letters, digits, '.', '_' or '-' (at most 64 characters)"
    ]
    head = (
        'id: t\nname: T\nversion: "1"\nowner: me\ninputs: {src-ip: {type: str}}\nsteps: [{id: a, action: data.set}]\n'
    )
    assert problems("", head=head) == [
        "field 'inputs.src-ip': name 'src-ip' must be a name of letters, digits and '_' (not starting with a digit)",
        "field 'inputs.src-ip.type': expected 'string', 'integer', 'number', 'boolean', 'list' or 'object', got 'str'",
        "field 'owner': unknown field",
    ]
    head = 'id: t\nname: T\nversion: "1"\ninputs: {ip: {type: string, required: true, default: x}}\nsteps:\n'
    assert problems("  - {id: a, action: data.set}\n", head=head) == [
        "field 'inputs.ip.required': a required input cannot have a default"
    ]


def test_action_names_come_from_the_registry_passed_in() -> None:
    steps = "  - id: a\n    action: edr.isolate\n    compensate: {action: edr.release}\n"
    assert problems(steps) == [
        "step 'a' field 'action': unknown action 'edr.isolate' (known: data.merge, data.set, http.request, "
        "notify.approval, notify.webhook)",
        "step 'a' field 'compensate.action': unknown action 'edr.release' (known: data.merge, data.set, "
        "http.request, notify.approval, notify.webhook)",
    ]
    registry = {**BUILTIN_ACTIONS.flags(), "edr.isolate": True, "edr.release": True}
    assert problems(steps, actions=registry) == []


def test_child_playbook_inputs_are_checked() -> None:
    child = parse_playbook_text((VALID / "notify-team.json").read_text(), "json")
    parent = parse_playbook_text(
        HEAD + "  - id: run\n    playbook: notify-team\n    inputs: {approved: 'yes', txt: hi}\n"
    )
    assert [str(e) for e in validate_playbook(parent, playbooks={"notify-team": child})] == [
        "step 'run' field 'inputs.approved': expected boolean, got string",
        "step 'run' field 'inputs.txt': playbook 'notify-team' has no input 'txt' (declared: text, approved)",
        "step 'run' field 'inputs': missing required input 'text' of playbook 'notify-team'",
    ]


def test_validation_is_fast() -> None:
    text = (VALID / "every-step-kind.yaml").read_text()
    started = time.perf_counter()
    for _ in range(20):
        validate_playbook(parse_playbook_text(text), playbooks={})
    assert time.perf_counter() - started < 2.0


def test_the_example_in_the_docs_is_valid() -> None:
    doc = (ROOT / "docs" / "playbooks.md").read_text()
    example = doc.split("## A complete example\n\n```yaml\n", 1)[1].split("```", 1)[0]
    playbook = parse_playbook_text(example)
    child = parse_playbook_text((VALID / "notify-team.json").read_text(), "json")
    registry = {**BUILTIN_ACTIONS.flags(), "firewall.block": True, "firewall.unblock": True, "edr.block_ip": True}
    assert validate_playbook(playbook, registry, {"notify-team": child}) == []


def test_validate_playbook_works_in_a_fresh_interpreter_with_nothing_else_imported() -> None:
    # No registry filled by import side effects: the built-in actions' specs are pure data the validator knows.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from xorb_orchestrator.playbook import parse_playbook_text, validate_playbook\n"
        "for path in sorted(Path(sys.argv[1]).glob('*.yaml')):\n"
        "    errors = validate_playbook(parse_playbook_text(path.read_text(), 'yaml'))\n"
        "    print(path.name, [str(e) for e in errors])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('xorb_orchestrator.')\n"
        "                and not m.startswith(('xorb_orchestrator.playbook', 'xorb_orchestrator.models')))\n"
        "print('also loaded:', loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(VALID)], capture_output=True, text=True, check=True)
    lines = done.stdout.splitlines()
    assert lines == ["every-step-kind.yaml []", "also loaded: []"], done.stdout


GATE = "  - id: ok\n    approval: {approvers: {roles: [soc-lead]}, timeout: 10m, gates: [%s]}\n"


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (GATE % "block" + "  - {id: block, action: http.request, args: {url: 'x/${{ inputs.ip }}'}}\n", []),
        (
            GATE % "blok" + "  - {id: block, action: http.request}\n",
            ["step 'ok' field 'approval.gates.0': unknown step 'blok' (did you mean 'block'?)"],
        ),
        (
            "  - {id: block, action: http.request}\n" + GATE % "block",
            ["step 'ok' field 'approval.gates.0': step 'block' comes before this approval: it gates later steps"],
        ),
        (
            GATE % "later" + "  - {id: later, wait: {delay: 1m}}\n",
            ["step 'ok' field 'approval.gates.0': step 'later' is a wait step: an approval gates action steps"],
        ),
        (
            GATE % "block"
            + "  - {id: look, action: data.set}\n"
            + "  - {id: block, action: http.request, args: {url: '${{ steps.look.result }}'}}\n",
            [
                "step 'ok' field 'approval.gates.0': step 'block' args.url: step 'look' runs after this step "
                "when this approval is asked"
            ],
        ),
        (
            GATE % "block" + "  - id: each\n    for_each: '[1]'\n    steps: [{id: block, action: http.request}]\n",
            [
                "step 'ok' field 'approval.gates.0': step 'block' runs in other for_each items than this approval: "
                "it cannot gate it"
            ],
        ),
        (
            GATE % "block" + GATE.replace("id: ok", "id: ok2") % "block" + "  - {id: block, action: http.request}\n",
            ["step 'ok2' field 'approval.gates.0': step 'block' is already gated by approval 'ok'"],
        ),
    ],
)
def test_gates(steps: str, expected: list[str]) -> None:
    assert problems(steps) == expected
