"""Golden histories replayed against today's workflow code: a change that would break running
incidents (without `workflow.patched`) fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from xorb_orchestrator.infrastructure.worker import WORKFLOWS

pytestmark = pytest.mark.asyncio(loop_scope="session")
GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.json"))


async def test_golden_histories_exist() -> None:
    assert GOLDEN, "no golden histories in tests/golden; record them with python -m tests.golden.record"


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
async def test_golden_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
