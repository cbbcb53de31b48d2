"""The guard in conftest really catches a workflow that completes with a handler still running."""

from __future__ import annotations

import asyncio
import uuid

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from tests.support.handler_warnings import unfinished_handler_warnings


@workflow.defn(sandboxed=False)
class LeavesASignalRunning:
    def __init__(self) -> None:
        self.got = False

    @workflow.signal
    async def poke(self) -> None:
        self.got = True
        await workflow.sleep(3600)  # still running when the workflow returns

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self.got)


async def test_a_signal_handler_left_running_is_reported(temporal_client: Client) -> None:
    queue = "unfinished-" + uuid.uuid4().hex
    with unfinished_handler_warnings() as found:
        async with Worker(temporal_client, task_queue=queue, workflows=[LeavesASignalRunning]):
            handle = await temporal_client.start_workflow(
                LeavesASignalRunning.run, id=queue, task_queue=queue, start_signal="poke"
            )
            await asyncio.wait_for(handle.result(), 20)
    assert len(found) == 1 and found[0].startswith("UnfinishedSignalHandlersWarning"), found
