"""The chaos suite's reduced form: `bench/chaos.py --small` on its own real processes, nothing accepted may be lost.

It starts its own Temporal (SQLite file), Redis, API and two workers (not the session fixtures' servers: their
faults are the point): 30 incidents plus 2 per tool fault (500, 429, 404), each alert delivered 2-3 times at
once, 2 worker SIGKILLs, 1 Temporal restart, Redis stopped 5 s and flushed once, poison lines in the batches.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CHAOS = Path(__file__).resolve().parents[1] / "bench" / "chaos.py"
INCIDENTS, PER_TOOL_MODE, TOOL_MODES = 30, 2, ("500", "429", "404")


def run_small(results: Path, timeout: float) -> tuple[int, str, dict[str, object]]:
    """Run the suite; on a timeout SIGTERM it (it stops what it started), then SIGKILL."""
    proc = subprocess.Popen(
        [sys.executable, str(CHAOS), "--small", "--results-dir", str(results)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            output, _ = proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        pytest.fail(f"bench/chaos.py --small did not finish within {timeout:.0f} s:\n{output[-4000:]}")
    files = sorted(results.glob("chaos-*.json"))
    assert files, f"no result file (exit {proc.returncode}):\n{output[-4000:]}"
    return proc.returncode, output, json.loads(files[-1].read_text())


@pytest.mark.chaos
@pytest.mark.timeout(240)
def test_nothing_accepted_is_lost_under_chaos(tmp_path: Path) -> None:
    code, output, result = run_small(tmp_path, timeout=220)
    table = result["table"]
    assert isinstance(table, dict)
    report = output[-4000:]
    assert table["lost"] == 0, report
    assert table["stuck"] == 0, report
    assert table["duplicate_effects"] == 0, report
    assert table["effects_of_unknown_incidents"] == 0, report
    assert table["completed_without_effect"] == 0, report
    assert table["poison_lines_wrongly_accepted"] == 0, report
    assert table["poison_lines_refused"] > 0, report
    # Every alert sent got in (the sender retries 503/429), and each incident has its own expected end.
    assert table["accepted_alerts"] == INCIDENTS + PER_TOOL_MODE * len(TOOL_MODES), report
    modes = result["modes"]
    assert isinstance(modes, dict)
    ok = modes["ok"]["statuses"]
    assert set(ok) <= {"completed", "closed"} and sum(ok.values()) == INCIDENTS, report
    for mode in TOOL_MODES:
        assert modes[mode]["statuses"] == {"failed": PER_TOOL_MODE}, report
    assert table["distinct_effects"] >= INCIDENTS, report
    assert result["problems"] == [], report
    assert code == 0, report
