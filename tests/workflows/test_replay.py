"""Golden histories replayed against today's workflow code: a change that would break running
incidents (without `workflow.patched`) fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden.replay import golden_histories, replay

pytestmark = pytest.mark.asyncio(loop_scope="session")
GOLDEN = golden_histories()


async def test_golden_histories_exist() -> None:
    assert GOLDEN, "no golden histories in tests/golden; record them with python -m tests.golden.record"


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
async def test_golden_history_replays(path: Path) -> None:
    failure = await replay(path)
    assert failure is None, f"{path.name} no longer replays: {failure}"
