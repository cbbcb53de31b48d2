"""Replay golden histories against the workflow code on the import path: `python -m tests.golden.replay [FILE ...]`.

Prints one line per history and exits 1 when any fails. tests/workflows/test_replay.py replays them in-process;
tests/workflows/test_replay_compat.py runs this module against an edited copy of the package (a compatible model change
must replay, a removed workflow command must not).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

GOLDEN_DIR = Path(__file__).parent


def golden_histories() -> list[Path]:
    return sorted(GOLDEN_DIR.glob("*.json"))


async def replay(path: Path) -> str | None:
    """Why the history at `path` no longer replays, or None when it does. Its workflow id is its file's stem."""
    from xorb_orchestrator.service import WORKFLOWS, workflow_runner

    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=workflow_runner())
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return None if result.replay_failure is None else str(result.replay_failure)


async def main(paths: list[Path]) -> int:
    failed = 0
    for path in paths:
        failure = await replay(path)
        failed += failure is not None
        print(f"{path.name}: {'ok' if failure is None else 'FAILED ' + failure}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    chosen = [Path(arg) for arg in sys.argv[1:]] or golden_histories()
    sys.exit(asyncio.run(main(chosen)))
