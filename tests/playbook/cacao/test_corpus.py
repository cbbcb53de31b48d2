"""Published CACAO playbooks (the workplace's corpus: SOARCA's examples and tests, CyberGuard's translations),
read where they are, never copied: which we run, and the first reason for each we refuse. Skipped when the
corpus folder is absent (a user's clone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.paths import SHARED
from xorb_orchestrator.playbook.catalog import check_files

CORPUS = Path(os.environ.get("XORB_CACAO_CORPUS") or SHARED / "corpus" / "cacao")
pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"the CACAO corpus is not at {CORPUS} (set XORB_CACAO_CORPUS to its folder)"
)

START_AT_ACTION = (
    "field 'workflow_start': step 'action--a76dbc32-b739-427b-ae13-4ec703d5797e' is an action step, not a start step"
)
UNSUPPORTED = "unsupported command type '{}' (supported: http-api, openc2-http, manual)"
# The first line `xorb playbook validate` prints for each SOARCA file ("OK" when it runs).
SOARCA = {
    "soarca-caldera-flow-control.json": "field 'playbook_variables.__should.execute.true__.[key]': must be a "
    "variable name such as __name__ (letters, digits, '_', '-'), got '__should.execute.true__'",
    "soarca-example-fin.json": "step 'action--2fd6bca0-24ed-4d74-8eae-da126a84f7c4': " + UNSUPPORTED.format("pong"),
    "soarca-example-http.json": "OK",
    "soarca-example-manual.json": "OK",
    "soarca-example-openc2.json": "step 'action--eb9372d4-d524-49fc-bf24-be26ea084779': "
    + UNSUPPORTED.format("openc2"),
    "soarca-example-powershell.json": "step 'action--010b0420-db3e-4810-ba75-08a10f473214': "
    + UNSUPPORTED.format("powershell"),
    "soarca-example-ssh.json": "step 'action--eb9372d4-d524-49fc-bf24-be26ea084779': " + UNSUPPORTED.format("ssh"),
    "soarca-test-api-routes-playbook.json": START_AT_ACTION,
    "soarca-test-changed-playbook.json": "field 'workflow': input should be a valid dictionary, got list "
    "[{'step_uuid': 'step--a76dbc32-b739-427b-ae13-4ec703d5797e', 'type': 'actio...]",
    "soarca-test-infinite_playbook.json": START_AT_ACTION,
    "soarca-test-invalid_email_playbook.json": START_AT_ACTION,
    "soarca-test-invalid_playbook.json": START_AT_ACTION,
    "soarca-test-missing_step_playbook.json": START_AT_ACTION,
    "soarca-test-parallels_playbook.json": "step 'parallel--a76dbc32-b739-427b-ae13-4ec703d5797e' field 'agent': "
    "unknown field",
    "soarca-test-playbook.json": START_AT_ACTION,
}


def first_line(path: Path) -> str:
    (report,) = check_files([path])
    return "OK" if report.ok else str(report.errors[0])


@pytest.mark.parametrize("name", sorted(SOARCA))
def test_soarca_files_run_or_are_refused_for_their_first_flaw(name: str) -> None:
    assert first_line(CORPUS / name) == SOARCA[name]


def test_the_missing_step_is_named_where_it_is_referenced() -> None:
    (report,) = check_files([CORPUS / "soarca-test-missing_step_playbook.json"])
    assert (
        "step 'action--2190f685-1857-44ac-ad0e-0ded6c6ef3ce' field 'on_completion': unknown step "
        "'end--6b23c237-ade8-4d00-9aa1-75999738d558'"
    ) in [str(error) for error in report.errors]


def test_every_other_corpus_file_is_refused_naming_a_field() -> None:
    for path in sorted(CORPUS.glob("*.json")):
        if path.name not in SOARCA:
            (report,) = check_files([path])
            assert not report.ok and all(error.field for error in report.errors[:1]), path.name
