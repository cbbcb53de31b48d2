"""The bare-Temporal baseline the benchmarks measure the service against: a hand-written workflow of three
activities in sequence, the first POSTing to a webhook as notify.webhook does, and its worker.

latency.py starts it on a fixed grid (start -> first activity); playbooks.py and latency.py's `--capacity` run
it to completion flat out (`run_flat_out`). Its worker runs in the bench process, on the Temporal server of the
`xorb dev` under test, on its own task queue, with the SDK's defaults but unsandboxed, as the service's workers run
(XORB_WORKFLOW_SANDBOX is off by default): the ratios measure xorb's own work, not the sandbox's.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

# The sandbox imports this module again for every workflow run: what the workflow does not need is imported
# once, outside it.
with workflow.unsafe.imports_passed_through():
    import asyncio
    import statistics
    import time
    from typing import Any

    import httpx
    from temporalio.client import Client
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker


class BareActivities:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    @activity.defn(name="bare_notify")
    async def notify(self, url: str) -> int:
        """What notify.webhook does at its core: POST a small JSON body keyed by workflow id + step id."""
        workflow_id = activity.info().workflow_id
        response = await self._http.post(
            url, json={"workflow_id": workflow_id}, headers={"Idempotency-Key": f"{workflow_id}/notify"}
        )
        return response.status_code

    @activity.defn(name="bare_step")
    async def step(self, n: int) -> int:
        return n + 1


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    @workflow.run
    async def run(self, url: str) -> int:
        timeout = timedelta(seconds=10)
        status = await workflow.execute_activity_method(BareActivities.notify, url, start_to_close_timeout=timeout)
        n = await workflow.execute_activity_method(BareActivities.step, status, start_to_close_timeout=timeout)
        return await workflow.execute_activity_method(BareActivities.step, n, start_to_close_timeout=timeout)


def bare_worker(client: Client, task_queue: str, http: httpx.AsyncClient) -> Worker:
    """The baseline's worker; `async with` it while the bare workflows run."""
    activities = BareActivities(http)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow],
        activities=[activities.notify, activities.step],
        max_concurrent_activities=100,
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


async def run_flat_out(client: Client, task_queue: str, url: str, ids: list[str], in_flight: int) -> dict[str, Any]:
    """Run a bare workflow per id to completion, `in_flight` callers each starting one and awaiting its result
    before the next (in_flight = len(ids): all at once). Workflows/s over the whole, and each one's start -> result."""
    queue = iter(ids)
    took: list[float] = []
    started = time.monotonic()

    async def caller() -> None:
        for ident in queue:
            begun = time.monotonic()
            handle = await client.start_workflow(BareWorkflow.run, url, id=ident, task_queue=task_queue)
            await handle.result()
            took.append(time.monotonic() - begun)

    await asyncio.gather(*(caller() for _ in range(min(in_flight, len(ids)))))
    seconds = time.monotonic() - started
    took.sort()
    return {
        "workflows": len(ids),
        "concurrency": in_flight,
        "seconds": round(seconds, 2),
        "per_s": round(len(ids) / seconds, 2),
        "latency_p50_s": round(statistics.median(took), 3),
        "latency_p95_s": round(took[int(0.95 * (len(took) - 1))], 3),
    }
