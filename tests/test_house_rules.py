"""`make lint`'s house rules catch what they are for: a deliberate violation in a copy of the tree fails them.

Each case copies pyproject.toml and src/ into a temporary directory, edits one module, and runs the same commands
`make lint` runs (`ruff check`, `lint-imports`) there, against the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

BIN = Path(sys.executable).parent


def _copy_tree(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return tmp_path


def _append(tree: Path, module: str, code: str) -> None:
    path = tree / "src" / "xorb_orchestrator" / module
    path.write_text(path.read_text() + code)


def _run(tree: Path, *command: str) -> subprocess.CompletedProcess[str]:
    # lint-imports must analyse the copy, not the install; wide lines so that an import is never wrapped.
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "COLUMNS": "300"}
    return subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def clean_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_tree(tmp_path_factory.mktemp("clean"))


def test_the_tree_as_it_is_keeps_every_rule(clean_tree: Path) -> None:
    contracts = _run(clean_tree, "lint-imports", "--no-cache")
    assert contracts.returncode == 0, contracts.stdout + contracts.stderr
    assert "3 kept, 0 broken" in contracts.stdout
    ruff = _run(clean_tree, "ruff", "check", "--no-cache", ".")
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


def test_a_workflow_importing_httpx_fails_both_checks(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    _append(tree, "workflows/waiting.py", "\nimport httpx  # noqa: E402\n\nCLIENT = httpx\n")
    contracts = _run(tree, "lint-imports", "--no-cache")
    assert contracts.returncode == 1, contracts.stdout
    assert "xorb_orchestrator.workflows.waiting -> httpx" in contracts.stdout
    ruff = _run(tree, "ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert ruff.returncode == 1
    assert "workflows/waiting.py" in ruff.stdout and "TID251 `httpx` is banned" in ruff.stdout


def test_services_importing_activities_fails_the_contracts(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    _append(tree, "services/playbook_runs.py", "\nfrom xorb_orchestrator.activities.actions import catalog  # noqa\n")
    contracts = _run(tree, "lint-imports", "--no-cache")
    assert contracts.returncode == 1, contracts.stdout
    assert "xorb_orchestrator.services.playbook_runs -> xorb_orchestrator.activities.actions.catalog" in (
        contracts.stdout
    )


def test_a_lower_layer_importing_a_higher_one_fails_the_contracts(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    _append(tree, "infrastructure/cache.py", "\nfrom xorb_orchestrator.services import intake  # noqa\n")
    contracts = _run(tree, "lint-imports", "--no-cache")
    assert contracts.returncode == 1, contracts.stdout
    assert "xorb_orchestrator.infrastructure is not allowed to import xorb_orchestrator.services" in contracts.stdout


def test_a_clock_in_the_playbook_language_fails_ruff(tmp_path: Path) -> None:
    tree = _copy_tree(tmp_path)
    clock = "\nfrom datetime import datetime  # noqa: E402\n\n\ndef _now() -> object:\n    return datetime.now()\n"
    _append(tree, "playbook/durations.py", clock)
    ruff = _run(tree, "ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert "playbook/durations.py" in ruff.stdout and "`datetime.datetime.now` is banned" in ruff.stdout, ruff.stdout
