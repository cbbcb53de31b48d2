"""`xorb`, `xorb --help` and `xorb version` answer without loading the service (issue 13: under 0.3 s), and the
quick help lists exactly the full command's commands, each with the first line of its own help."""

from __future__ import annotations

import subprocess
import sys
import time

from typer.main import get_command

from xorb_orchestrator import __version__
from xorb_orchestrator.cli.entry import COMMANDS, quick_help
from xorb_orchestrator.cli.main import app

ENTRY = [sys.executable, "-c", "from xorb_orchestrator.cli.entry import main; main()"]


def test_the_quick_help_is_the_full_commands_list() -> None:
    full = get_command(app)
    listed = []
    for name in full.list_commands(None):  # type: ignore[attr-defined]
        command = full.get_command(None, name)  # type: ignore[attr-defined]
        listed.append((name, (command.help or "").strip().splitlines()[0]))
    assert list(COMMANDS) == listed


def test_help_and_version_answer_without_loading_the_service() -> None:
    code = "import sys; from xorb_orchestrator.cli.entry import main; main(); print(sorted(sys.modules))"
    for args in ([], ["--help"], ["version"]):
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
        took = time.monotonic() - started
        out, loaded = done.stdout.rsplit("\n", 2)[0], done.stdout.rsplit("\n", 2)[1]
        assert out == (__version__ if args == ["version"] else quick_help())
        for heavy in ("temporalio", "fastapi", "xorb_orchestrator.cli.main", "xorb_orchestrator.service"):
            assert f"'{heavy}'" not in loaded, (args, heavy)
        print(f"xorb {' '.join(args)}: {took * 1000:.0f} ms (interpreter start included)")


def test_anything_else_runs_the_full_command() -> None:
    done = subprocess.run([*ENTRY, "actions", "list", "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"name": "openc2.deny"' in done.stdout or '"openc2.deny"' in done.stdout
