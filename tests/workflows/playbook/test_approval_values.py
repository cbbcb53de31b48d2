"""Values given with an approval (`approval.outputs`): the run asks for them, the `approve` Update's validator
refuses any other set of names, and the approving person's values become the step's result, read by later steps
as `steps.<id>.result.<name>`; a denial needs none; a dry run gives nulls. On the real dev server. (The API and
the CLI: tests/api/test_approval_values.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from pydantic import ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError

from tests.support.playbook_runs import Runner, playbook, playbook_worker, state_when, texts
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.models.approvals import MAX_OUTPUT_CHARS
from xorb_orchestrator.models.incident import StepStatus
from xorb_orchestrator.models.playbook_run import ApprovalDecision, ApprovalRequest, RunStatus
from xorb_orchestrator.workflows.playbook.workflow import PlaybookWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

ASK_TICKET = playbook(
    """
id: ask-ticket
name: Isolate, with the ticket number
version: "1"
steps:
  - id: isolate
    approval:
      message: "Unplug the host and give the ticket number"
      approvers: {roles: [soc-lead]}
      timeout: 30m
      outputs: [ticket]
    on_failure: {goto: tell}
  - {id: note, action: notify.webhook, args: {text: "ticket ${{ steps.isolate.result.ticket }}"}}
  - id: tell
    action: notify.webhook
    args: {text: "approved=${{ steps.isolate.approved }} result=${{ size(steps.isolate.result) }}"}
"""
)

NO_VALUES = playbook(
    """
id: no-values
name: A plain approval
version: "1"
steps:
  - id: go
    approval: {approvers: {roles: [soc-lead]}, timeout: 30m}
  - {id: done, action: notify.webhook, args: {text: "result=${{ size(steps.go.result) }}"}}
"""
)


def decide(request: ApprovalRequest, approve: bool = True, **outputs: str) -> ApprovalDecision:
    return ApprovalDecision(
        incident_id=request.incident_id,
        step_id=request.step_id,
        approver="alice",
        roles=["soc-lead"],
        approve=approve,
        outputs=outputs,
    )


@pytest_asyncio.fixture(loop_scope="session")
async def runner(temporal_client: Client, webhook_sink: WebhookSink) -> AsyncIterator[Runner]:
    async with playbook_worker(temporal_client, webhook_sink.url) as running:
        yield running


async def test_the_approvals_values_are_the_steps_result(runner: Runner, webhook_sink: WebhookSink) -> None:
    handle = await runner.start(ASK_TICKET)
    request = (await state_when(handle, lambda s: bool(s.pending_approvals))).pending_approvals[0]
    assert request.outputs == ["ticket"]  # what GET /v1/approvals shows the approver

    stem = "approving step 'isolate' takes exactly the values it asks for (ticket): "
    refused = {
        "none given": (decide(request), stem + "missing ticket"),
        "misspelt": (decide(request, tiket="INC-42"), stem + "missing ticket; unknown tiket"),
        "one too many": (decide(request, ticket="INC-42", host="ws-7"), stem + "unknown host"),
        "blank": (decide(request, ticket="  "), stem + "empty ticket"),
    }
    for name, (decision, message) in refused.items():
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(PlaybookWorkflow.approve, decision)
        assert str(failed.value.cause).removeprefix("ApprovalRefused: ") == message, name
    # A signal cannot be rejected to its sender: it is refused and kept, and nothing is counted.
    await handle.signal(PlaybookWorkflow.approval_signal, decide(request, tiket="INC-42"))
    state = await state_when(handle, lambda s: bool(s.refused_signals))
    assert state.refused_signals == [f"alice: {stem}missing ticket; unknown tiket"]
    assert state.pending_approvals[0].votes == []

    receipt = await handle.execute_update(PlaybookWorkflow.approve, decide(request, ticket="INC-42"))
    assert receipt.outcome == "approved"
    result = await asyncio.wait_for(handle.result(), timeout=20)
    assert result.status is RunStatus.COMPLETED
    step = result.steps[0]
    assert (step.status, step.result) == (StepStatus.COMPLETED, {"ticket": "INC-42"})
    assert [(v.approver, v.outputs) for v in step.votes] == [("alice", {"ticket": "INC-42"})]
    assert result.states["isolate"]["result"] == {"ticket": "INC-42"}
    assert texts(webhook_sink) == ["ticket INC-42", "approved=true result=1"]


async def test_a_denial_needs_no_values_and_any_sent_are_dropped(runner: Runner, webhook_sink: WebhookSink) -> None:
    handle = await runner.start(ASK_TICKET)
    request = (await state_when(handle, lambda s: bool(s.pending_approvals))).pending_approvals[0]
    receipt = await handle.execute_update(PlaybookWorkflow.approve, decide(request, False, ticket="INC-42"))
    assert receipt.outcome == "denied"
    result = await asyncio.wait_for(handle.result(), timeout=20)
    assert result.status is RunStatus.COMPLETED  # on_failure took the other path
    step = result.steps[0]
    assert (step.status, step.result, step.votes[0].outputs) == (StepStatus.DENIED, {}, {})
    assert texts(webhook_sink) == ["approved=false result=0"]  # never "ticket ..."


async def test_a_denial_without_values_counts(runner: Runner, webhook_sink: WebhookSink) -> None:
    handle = await runner.start(ASK_TICKET)
    request = (await state_when(handle, lambda s: bool(s.pending_approvals))).pending_approvals[0]
    assert (await handle.execute_update(PlaybookWorkflow.approve, decide(request, False))).outcome == "denied"
    result = await asyncio.wait_for(handle.result(), timeout=20)
    assert result.steps[0].status is StepStatus.DENIED
    assert texts(webhook_sink) == ["approved=false result=0"]


async def test_a_step_that_asks_nothing_takes_no_values(runner: Runner, webhook_sink: WebhookSink) -> None:
    handle = await runner.start(NO_VALUES)
    request = (await state_when(handle, lambda s: bool(s.pending_approvals))).pending_approvals[0]
    assert request.outputs == []
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(PlaybookWorkflow.approve, decide(request, ticket="INC-42"))
    refusal = str(failed.value.cause).removeprefix("ApprovalRefused: ")
    assert refusal == "approving step 'go' takes exactly the values it asks for (none): unknown ticket"
    assert (await handle.execute_update(PlaybookWorkflow.approve, decide(request))).outcome == "approved"
    result = await asyncio.wait_for(handle.result(), timeout=20)
    assert result.steps[0].result == {} and result.steps[0].votes[0].outputs == {}  # as before outputs existed
    assert texts(webhook_sink) == ["result=0"]


async def test_a_dry_run_gives_each_value_as_null(runner: Runner, webhook_sink: WebhookSink) -> None:
    result = await runner.run(ASK_TICKET, dry_run=True)
    assert result.status is RunStatus.COMPLETED
    step = result.steps[0]
    assert (step.decision, step.simulated, step.result) == ("approved", True, {"ticket": None})
    assert result.states["isolate"]["result"] == {"ticket": None}
    note = next(s for s in result.steps if s.id == "note")
    assert note.args == {"text": "ticket "}  # a null renders as nothing in text; the webhook itself is simulated
    assert texts(webhook_sink) == []


# --- the decision's bounds (it travels in the run's history) ---------------------------------------------


def _decision(outputs: object) -> ApprovalDecision:
    return ApprovalDecision.model_validate(
        {"incident_id": "incident-x", "step_id": "s", "approver": "alice", "outputs": outputs}
    )


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({f"v{i}": "x" for i in range(21)}, "at most 20 values, got 21"),
        ({"two words": "x"}, "'two words' is not a value name (letters, digits and '_', at most 64)"),
        ({"n" * 65: "x"}, "is not a value name"),
        ({"ticket": "x" * (MAX_OUTPUT_CHARS + 1)}, "the value of 'ticket' is 4097 characters long (at most 4096)"),
        ({f"v{i}": "é" * 1000 for i in range(9)}, "bytes together (at most 16384 in UTF-8)"),
        ({"ticket": 42}, "Input should be a valid string"),
    ],
)
def test_a_decisions_values_are_bounded(outputs: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _decision(outputs)
    assert message in str(caught.value)


def test_values_within_the_bounds_are_kept() -> None:
    most = {f"v{i}": "x" * 800 for i in range(20)}  # 20 values, 16,000+ bytes with their names
    assert _decision(most).outputs == most
    assert _decision({"ticket": "x" * MAX_OUTPUT_CHARS}).outputs["ticket"] == "x" * MAX_OUTPUT_CHARS
