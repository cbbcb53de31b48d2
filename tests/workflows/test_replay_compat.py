"""Running executions survive compatible model changes, and the replay check still catches incompatible ones.

Each case copies the package, edits one file the way a developer would, and replays every golden history against
the copy in a fresh interpreter (`python -m tests.golden.replay`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import xorb_orchestrator
from tests.golden.replay import golden_histories
from tests.support.paths import ROOT

PACKAGE = Path(xorb_orchestrator.__file__).parent
STEP_MODEL = "playbook/steps.py"
INTERPRETER_CALL = "workflows/playbook/actions.py"


def _replay_edited(tmp_path: Path, relative: str, old: str, new: str) -> subprocess.CompletedProcess[str]:
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "xorb_orchestrator", ignore=shutil.ignore_patterns("__pycache__"))
    edited = copy / "xorb_orchestrator" / relative
    source = edited.read_text()
    assert source.count(old) == 1, f"{relative} no longer has the line this test edits: {old!r}"
    edited.write_text(source.replace(old, new))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(copy), str(ROOT)])}
    code = "import xorb_orchestrator, sys; print(xorb_orchestrator.__file__)"
    where = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(copy)), f"the edited copy was not imported: {where.stdout}"
    return subprocess.run(
        [sys.executable, "-m", "tests.golden.replay"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_new_optional_step_field_replays_every_golden_history(tmp_path: Path) -> None:
    assert golden_histories()
    done = _replay_edited(tmp_path, STEP_MODEL, "    id: StepId\n", "    id: StepId\n    owner: str | None = None\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(": ok") == len(golden_histories())


def test_removed_workflow_command_fails_the_replay(tmp_path: Path) -> None:
    # The interpreter no longer calls the action's activity: every playbook history must stop replaying.
    done = _replay_edited(
        tmp_path,
        INTERPRETER_CALL,
        "    return await workflow.execute_activity(\n        action,\n",
        "    return ActionResult(outcome='completed')\n    return await workflow.execute_activity(\n        action,\n",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    playbook_runs = [p.name for p in golden_histories() if p.name.startswith("playbook-")]
    assert playbook_runs
    for name in playbook_runs:
        assert f"{name}: FAILED" in done.stdout, done.stdout
