"""Approvals in a PlaybookWorkflow: the `approve` Update's validator (wrong person, twice, another incident or
step), N of M, the signal fallback and denial on the real dev server; timeouts and escalation on the
time-skipping test server. (The approval check as plain data: test_playbook_scheduler.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.support.playbook_runs import Runner, notices, playbook, playbook_worker, state_when, texts
from tests.support.stack import time_skipping_temporal
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.models.incident import StepStatus
from xorb_orchestrator.models.playbook_run import ApprovalDecision, ApprovalRequest, RunStatus
from xorb_orchestrator.workflows.playbook.workflow import PlaybookWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

TWO_OF = playbook(
    """
id: two-approvals
name: Two approvals
version: "1"
steps:
  - id: approve
    approval:
      message: "Isolate the host?"
      approvers: {roles: [soc-lead], people: [alice]}
      required: 2
      timeout: 30m
    on_failure: {goto: tell}
  - {id: isolate, action: notify.webhook, args: {text: "isolating"}}
  - id: tell
    action: notify.webhook
    args: {text: "approved=${{ steps.approve.approved }} ${{ steps.approve.error }}"}
"""
)


def decide(request: ApprovalRequest, approver: str, *roles: str, **changes: object) -> ApprovalDecision:
    values: dict[str, object] = {
        "incident_id": request.incident_id,
        "step_id": request.step_id,
        "approver": approver,
        "roles": list(roles),
    }
    values.update(changes)
    return ApprovalDecision.model_validate(values)


@pytest_asyncio.fixture(loop_scope="session")
async def runner(temporal_client: Client, webhook_sink: WebhookSink) -> AsyncIterator[Runner]:
    async with playbook_worker(temporal_client, webhook_sink.url) as running:
        yield running


async def test_the_validator_refuses_what_cannot_count_and_two_people_approve(
    runner: Runner, webhook_sink: WebhookSink
) -> None:
    handle = await runner.start(TWO_OF)
    request = (await state_when(handle, lambda s: bool(s.pending_approvals))).pending_approvals[0]
    assert (request.required, request.roles, request.people) == (2, ["soc-lead"], ["alice"])

    refusals = {
        "wrong incident": (decide(request, "alice", incident_id="incident-other"), "belongs to incident"),
        "wrong step": (decide(request, "alice", step_id="isolate"), "'isolate' is not waiting for an approval"),
        "wrong person": (decide(request, "mallory", "analyst"), "mallory may not decide step 'approve'"),
    }
    for name, (decision, message) in refusals.items():
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(PlaybookWorkflow.approve, decision)
        assert message in str(failed.value.cause), name

    first = await handle.execute_update(PlaybookWorkflow.approve, decide(request, "alice"))
    assert (first.outcome, first.approvals, first.required) == ("pending", 1, 2)
    with pytest.raises(WorkflowUpdateFailedError) as twice:
        await handle.execute_update(PlaybookWorkflow.approve, decide(request, "alice", "soc-lead"))
    assert "alice has already decided step 'approve'" in str(twice.value.cause)
    second = await handle.execute_update(PlaybookWorkflow.approve, decide(request, "bob", "soc-lead"))
    assert second.outcome == "approved"

    result = await asyncio.wait_for(handle.result(), timeout=20)
    assert result.status is RunStatus.COMPLETED
    votes = result.steps[0].votes
    assert [(v.approver, v.role, v.via) for v in votes] == [("alice", None, "update"), ("bob", "soc-lead", "update")]
    assert texts(webhook_sink) == ["isolating", "approved=true "]


async def test_the_signal_fallback_counts_only_valid_approvals(runner: Runner, webhook_sink: WebhookSink) -> None:
    handle = await runner.start(TWO_OF)
    request = (await state_when(handle, lambda s: bool(s.pending_approvals))).pending_approvals[0]
    await handle.signal(PlaybookWorkflow.approval_signal, decide(request, "mallory"))  # refused, not counted
    await handle.signal(PlaybookWorkflow.approval_signal, decide(request, "alice"))
    await handle.signal(PlaybookWorkflow.approval_signal, decide(request, "alice"))  # twice: refused
    state = await state_when(handle, lambda s: bool(s.pending_approvals) and len(s.pending_approvals[0].votes) == 1)
    assert state.pending_approvals[0].votes[0].via == "signal"
    assert [refusal.split(":")[0] for refusal in state.refused_signals] == ["mallory", "alice"]
    await handle.signal(PlaybookWorkflow.approval_signal, decide(request, "carol", "soc-lead"))
    result = await asyncio.wait_for(handle.result(), timeout=20)
    assert result.status is RunStatus.COMPLETED
    assert [v.approver for v in result.steps[0].votes] == ["alice", "carol"]


async def test_a_denial_fails_the_step_and_on_failure_decides(runner: Runner, webhook_sink: WebhookSink) -> None:
    handle = await runner.start(TWO_OF)
    request = (await state_when(handle, lambda s: bool(s.pending_approvals))).pending_approvals[0]
    denial = decide(request, "bob", "soc-lead", approve=False, comment="production host")
    receipt = await handle.execute_update(PlaybookWorkflow.approve, denial)
    assert receipt.outcome == "denied"
    result = await asyncio.wait_for(handle.result(), timeout=20)
    assert result.status is RunStatus.COMPLETED  # the goto took the other path
    assert (result.steps[0].status, result.steps[0].error) == (StepStatus.DENIED, "denied by bob: production host")
    assert texts(webhook_sink) == ["approved=false denied by bob: production host"]  # never "isolating"


# --- timeouts and escalation, on the time-skipping server ------------------------------------------------

ESCALATING = playbook(
    """
id: escalating
name: Escalating
version: "1"
steps:
  - id: approve
    approval:
      approvers: {roles: [soc-lead], people: [alice]}
      timeout: 30m
      on_timeout: escalate
      escalate: {approvers: {roles: [ciso]}, timeout: 1h, on_timeout: deny}
    on_failure: {goto: tell}
  - {id: isolate, action: notify.webhook, args: {text: "isolating"}}
  - id: tell
    action: notify.webhook
    args: {text: "approved=${{ steps.approve.approved }} ${{ steps.approve.error }}"}
"""
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_temporal() as env:
        yield env


@pytest_asyncio.fixture(loop_scope="session")
async def skipping(skipping_env: WorkflowEnvironment, webhook_sink: WebhookSink) -> AsyncIterator[Runner]:
    async with playbook_worker(skipping_env.client, webhook_sink.url) as running:
        yield running


async def test_no_decision_takes_the_timeout_path(skipping: Runner, webhook_sink: WebhookSink) -> None:
    result = await skipping.run(TWO_OF)  # nobody answers: 30 minutes pass in an instant
    assert result.status is RunStatus.COMPLETED
    assert result.steps[0].error == "no decision within 30m: denied"
    assert result.steps[0].status is StepStatus.TIMED_OUT  # not a broken step: nobody answered
    assert texts(webhook_sink) == ["approved=false no decision within 30m: denied"]


async def test_on_timeout_approve_goes_on(skipping: Runner, webhook_sink: WebhookSink) -> None:
    pb = playbook(TWO_OF_TEXT_APPROVE)
    result = await skipping.run(pb)
    assert result.status is RunStatus.COMPLETED
    assert [(v.approver, v.via) for v in result.steps[0].votes] == [("timeout", "timeout")]
    assert texts(webhook_sink) == ["isolating"]


TWO_OF_TEXT_APPROVE = """
id: default-yes
name: Default yes
version: "1"
steps:
  - id: approve
    approval: {approvers: {roles: [soc-lead]}, timeout: 10m, on_timeout: approve}
  - {id: isolate, action: notify.webhook, args: {text: "isolating"}}
"""


async def test_escalation_asks_the_next_group_with_its_own_timeout(
    skipping_env: WorkflowEnvironment, skipping: Runner, webhook_sink: WebhookSink
) -> None:
    handle = await skipping.start(ESCALATING)
    first = (await state_when(handle, lambda s: bool(s.pending_approvals))).pending_approvals[0]
    assert (first.round, first.roles) == (0, ["soc-lead"])
    await skipping_env.sleep(timedelta(minutes=31))
    state = await state_when(handle, lambda s: bool(s.pending_approvals) and s.pending_approvals[0].round == 1)
    second = state.pending_approvals[0]
    assert (second.roles, second.people) == (["ciso"], [])
    assert second.deadline - first.deadline >= timedelta(minutes=59)
    with pytest.raises(WorkflowUpdateFailedError) as late:  # the first group may no longer decide
        await handle.execute_update(PlaybookWorkflow.approve, decide(second, "alice", "soc-lead"))
    assert "alice may not decide step 'approve' (allowed: role ciso)" in str(late.value.cause)
    receipt = await handle.execute_update(PlaybookWorkflow.approve, decide(second, "carol", "ciso"))
    assert receipt.outcome == "approved"
    result = await asyncio.wait_for(handle.result(), timeout=20)
    assert [(v.approver, v.role) for v in result.steps[0].votes] == [("carol", "ciso")]
    assert texts(webhook_sink) == ["isolating", "approved=true "]
    # The SOC channel heard the ask, the escalation (to its new approvers, with its own deadline) and the outcome.
    asked, escalated, decided = notices(webhook_sink)
    assert "Who: role soc-lead, alice by " in asked and "(then: escalate)" in asked
    assert "(escalated: nobody decided in time)" in escalated and "Who: role ciso by " in escalated
    assert "(then: deny)" in escalated and decided.endswith(": approved (by carol)")


async def test_an_unanswered_escalation_times_out_by_its_own_rule(skipping: Runner, webhook_sink: WebhookSink) -> None:
    result = await skipping.run(ESCALATING)
    assert result.steps[0].error == "no decision within 1h: denied"
    assert texts(webhook_sink) == ["approved=false no decision within 1h: denied"]


async def test_approvals_inside_a_for_each_are_bound_to_their_item(runner: Runner, webhook_sink: WebhookSink) -> None:
    pb = playbook(
        """
id: per-host
name: Per host
version: "1"
steps:
  - id: hosts
    for_each: "['h1', 'h2']"
    concurrency: 2
    steps:
      - {id: ok, approval: {approvers: {people: [alice]}, timeout: 10m}}
      - {id: isolate, action: notify.webhook, args: {text: "isolate ${{ item }}"}}
"""
    )
    handle = await runner.start(pb)
    state = await state_when(handle, lambda s: len(s.pending_approvals) == 2)
    request = state.pending_approvals[0]
    with pytest.raises(WorkflowUpdateFailedError) as ambiguous:
        await handle.execute_update(PlaybookWorkflow.approve, decide(request, "alice"))
    assert "waits for approval in several for_each items (0, 1): give iteration" in str(ambiguous.value.cause)
    await handle.execute_update(PlaybookWorkflow.approve, decide(request, "alice", iteration=1))
    await state_when(handle, lambda s: len(s.pending_approvals) == 1)
    await handle.execute_update(PlaybookWorkflow.approve, decide(request, "alice"))  # only item 0 is left
    result = await asyncio.wait_for(handle.result(), timeout=20)
    assert result.status is RunStatus.COMPLETED
    assert sorted(texts(webhook_sink)) == ["isolate h1", "isolate h2"]
