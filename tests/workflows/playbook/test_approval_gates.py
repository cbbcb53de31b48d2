"""An approval that gates action steps: approvers see each request exactly as it will be sent, and the step runs
only as approved — on the real dev server (a denial, a loop item, the request shown) and the time-skipping one
(a timeout denies)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client

from tests.support.playbook_runs import Runner, playbook, playbook_worker, state_when, texts
from tests.workflows.playbook.test_approvals import decide
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.models.incident import StepStatus
from xorb_orchestrator.models.playbook_run import RunStatus
from xorb_orchestrator.workflows.playbook.workflow import PlaybookWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

# No `if` guards the isolation: a careless playbook. The gate still keeps it from running unapproved.
UNGUARDED = playbook(
    """
id: gated
name: Gated
version: "1"
inputs:
  host: {type: string, required: true}
steps:
  - id: approve
    approval:
      message: "Isolate ${{ inputs.host }}?"
      approvers: {roles: [soc-lead]}
      timeout: 30m
      gates: [isolate]
    on_failure: continue
  - id: isolate
    action: notify.webhook
    args: {text: "isolate ${{ inputs.host }} for ${{ incident.id }}"}
    on_failure: continue
  - {id: after, action: notify.webhook, args: {text: "isolate: ${{ steps.isolate.status }}"}}
"""
)


@pytest_asyncio.fixture(loop_scope="session")
async def runner(temporal_client: Client, webhook_sink: WebhookSink) -> AsyncIterator[Runner]:
    async with playbook_worker(temporal_client, webhook_sink.url) as running:
        yield running


async def test_approvers_see_the_request_exactly_as_it_is_then_sent(runner: Runner, webhook_sink: WebhookSink) -> None:
    handle = await runner.start(UNGUARDED, inputs={"host": "ws-7/../../admin"})
    request = (await state_when(handle, lambda s: bool(s.pending_approvals))).pending_approvals[0]
    [shown] = request.requests
    assert (shown.step_id, shown.action) == ("isolate", "notify.webhook")
    assert shown.args["text"].startswith("isolate ws-7/../../admin for incident-")
    await handle.execute_update(PlaybookWorkflow.approve, decide(request, "carol", "soc-lead"))
    result = await asyncio.wait_for(handle.result(), timeout=20)
    assert result.status is RunStatus.COMPLETED
    assert texts(webhook_sink) == [shown.args["text"], "isolate: completed"]
    approval = result.steps[0]
    assert approval.requests == [shown]  # the run's record keeps what was approved


async def test_a_gated_step_never_runs_after_a_denial_even_unguarded(runner: Runner, webhook_sink: WebhookSink) -> None:
    handle = await runner.start(UNGUARDED, inputs={"host": "ws-7"})
    request = (await state_when(handle, lambda s: bool(s.pending_approvals))).pending_approvals[0]
    await handle.execute_update(PlaybookWorkflow.approve, decide(request, "carol", "soc-lead", approve=False))
    result = await asyncio.wait_for(handle.result(), timeout=20)
    isolate = next(step for step in result.steps if step.id == "isolate")
    assert (isolate.status, isolate.error) == (StepStatus.FAILED, "approval 'approve' did not approve it")
    assert isolate.attempts == 0
    assert texts(webhook_sink) == ["isolate: failed"]  # nothing was sent for the isolation


async def test_a_gate_in_a_for_each_binds_each_item_to_its_own_approval(
    runner: Runner, webhook_sink: WebhookSink
) -> None:
    pb = playbook(
        """
id: per-host-gated
name: Per host, gated
version: "1"
steps:
  - id: hosts
    for_each: "['h1', 'h2']"
    concurrency: 2
    steps:
      - {id: ok, approval: {approvers: {people: [alice]}, timeout: 10m, gates: [isolate]}, on_failure: continue}
      - {id: isolate, action: notify.webhook, args: {text: "isolate ${{ item }}"}, on_failure: continue}
"""
    )
    handle = await runner.start(pb)
    state = await state_when(handle, lambda s: len(s.pending_approvals) == 2)
    by_item = {r.iteration: r for r in state.pending_approvals}
    assert {i: r.requests[0].args["text"] for i, r in by_item.items()} == {0: "isolate h1", 1: "isolate h2"}
    await handle.execute_update(PlaybookWorkflow.approve, decide(by_item[1], "alice", iteration=1))
    await handle.execute_update(PlaybookWorkflow.approve, decide(by_item[0], "alice", iteration=0, approve=False))
    result = await asyncio.wait_for(handle.result(), timeout=20)
    assert texts(webhook_sink) == ["isolate h2"]  # item 0 was denied: its isolation did not go out
    refused = [s for s in result.steps if s.id == "isolate" and s.status is StepStatus.FAILED]
    assert [s.iteration for s in refused] == [0]


async def test_a_dry_run_shows_the_gated_request_and_runs_it_as_shown(
    runner: Runner, webhook_sink: WebhookSink
) -> None:
    result = await runner.run(UNGUARDED, inputs={"host": "ws-9"}, dry_run=True)
    assert result.status is RunStatus.COMPLETED
    approval, isolate = result.steps[0], result.steps[1]
    assert approval.requests[0].args == isolate.args
    assert isolate.status is StepStatus.COMPLETED
