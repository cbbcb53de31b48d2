"""PlaybookWorkflow on the real Temporal dev server, with the real registered actions and a real webhook
receiver (the WebhookSink) as the outside world: each step kind, failure routing, compensation, dry-run,
cancellation and continue-as-new."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.support.playbook_runs import Runner, playbook, playbook_worker, state_when, texts
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.models.incident import StepStatus
from xorb_orchestrator.models.playbook_run import ApprovalDecision, RunStatus
from xorb_orchestrator.service import workflow_runner
from xorb_orchestrator.workflows.playbook.workflow import PlaybookWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

NOTIFY_TEAM = playbook(
    """
id: notify-team
name: Tell the team
version: "1"
inputs: {text: {type: string, required: true}}
steps:
  - {id: send, action: notify.webhook, args: {text: "team: ${{ inputs.text }}"}}
"""
)

EVERY_KIND = playbook(
    """
id: contain-ip
name: Contain an IP
version: "1"
inputs:
  ip: {type: string, required: true}
  hosts: {type: list, default: []}
steps:
  - id: lookup
    action: data.set
    args: {score: 91, ip: "${{ inputs.ip }}"}
  - id: skipped-note
    when: "steps.lookup.result.score < 50"
    action: notify.webhook
    args: {text: "never sent"}
  - id: decide
    if: "steps.lookup.result.score >= 80"
    then:
      - id: approve-block
        approval:
          message: "Block ${{ inputs.ip }}? score ${{ steps.lookup.result.score }}"
          approvers: {roles: [soc-lead], people: [alice]}
          timeout: 30m
      - id: block
        parallel:
          - - id: block-edge
              action: notify.webhook
              args: {text: "block ${{ inputs.ip }} at the edge"}
          - - id: block-hosts
              for_each: "inputs.hosts"
              max_items: 10
              concurrency: 2
              steps:
                - id: isolate
                  action: data.set
                  args: {host: "${{ item }}", blocked: "${{ inputs.ip }}"}
    else:
      - {id: low, action: data.set, args: {note: low}}
  - id: by-severity
    switch: "incident.severity"
    cases:
      high: [{id: hold, wait: {delay: 1s}}]
    default: [{id: never, action: data.set, args: {x: 1}}]
  - id: tell-team
    playbook: notify-team
    inputs: {text: "blocked ${{ inputs.ip }} on ${{ size(steps['block-hosts'].result.items) }} hosts"}
""",
    {"notify-team": NOTIFY_TEAM},
)


@pytest_asyncio.fixture(loop_scope="session")
async def runner(temporal_client: Client, webhook_sink: WebhookSink) -> AsyncIterator[Runner]:
    async with playbook_worker(temporal_client, webhook_sink.url) as running:
        yield running


async def test_every_step_kind_runs_end_to_end(runner: Runner, webhook_sink: WebhookSink) -> None:
    handle = await runner.start(
        EVERY_KIND, inputs={"ip": "203.0.113.7", "hosts": ["h1", "h2", "h3"]}, catalog={"notify-team": NOTIFY_TEAM}
    )
    state = await state_when(handle, lambda s: bool(s.pending_approvals))
    assert state.pending_approvals[0].message == "Block 203.0.113.7? score 91"
    assert texts(webhook_sink) == []  # nothing disruptive before the approval (only its notice)
    request = state.pending_approvals[0]
    decision = ApprovalDecision(incident_id=request.incident_id, step_id="approve-block", approver="alice")
    receipt = await handle.execute_update(PlaybookWorkflow.approve, decision)
    assert receipt.outcome == "approved"

    result = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.status is RunStatus.COMPLETED, result.error
    by_id = {(r.id, r.iteration): r for r in result.steps}
    assert by_id[("skipped-note", None)].status is StepStatus.SKIPPED
    assert by_id[("approve-block", None)].votes[0].approver == "alice"
    assert by_id[("approve-block", None)].votes[0].role is None  # named, not through a role
    assert [by_id[("isolate", i)].result["host"] for i in range(3)] == ["h1", "h2", "h3"]
    assert result.decisions() == [
        ("skipped-note", "when: false"),
        ("decide", "then"),
        ("approve-block", "approved"),
        ("block-hosts", "3 of 3 items run"),
        ("by-severity", "high"),
    ]
    assert by_id[("tell-team/send", None)].status is StepStatus.COMPLETED
    assert sorted(texts(webhook_sink)) == ["block 203.0.113.7 at the edge", "team: blocked 203.0.113.7 on 3 hosts"]
    assert result.states["tell-team"]["result"]["send"]["status"] == "completed"
    await assert_replays(handle)


async def assert_replays(handle: WorkflowHandle) -> None:
    """Replaying the run's history with today's code gives the same commands: the interpreter is deterministic."""
    history = await handle.fetch_history()
    replayer = Replayer(
        workflows=[PlaybookWorkflow], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    await replayer.replay_workflow(history)


FAILING = playbook(
    """
id: undo-in-reverse
name: Undo in reverse
version: "1"
steps:
  - id: first
    action: notify.webhook
    args: {text: "do first"}
    compensate: {action: notify.webhook, args: {text: "undo first (${{ steps.first.status }})"}}
  - id: second
    action: notify.webhook
    args: {text: "do second"}
    compensate: {action: notify.webhook, args: {text: "undo second"}}
  - id: third
    action: notify.webhook
    args: {webhook: 7, text: "cannot be sent"}
    retry: {max_attempts: 2, initial_interval: 1s}
  - id: never
    action: notify.webhook
    args: {text: "never"}
"""
)


async def test_a_failing_step_runs_both_compensations_in_reverse_exactly_once(
    runner: Runner, webhook_sink: WebhookSink
) -> None:
    result = await runner.run(FAILING)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "step 'third' failed: webhook #7 is no longer configured" in result.error
    assert texts(webhook_sink) == ["do first", "do second", "undo second", "undo first (completed)"]
    assert [(u.step_id, u.status) for u in result.compensations] == [("second", "completed"), ("first", "completed")]
    assert [r.id for r in result.steps] == ["first", "second", "third"]


async def test_on_failure_continue_and_goto(runner: Runner, webhook_sink: WebhookSink) -> None:
    pb = playbook(
        """
id: routing
name: Failure routing
version: "1"
steps:
  - {id: broken, action: notify.webhook, args: {webhook: 9}, on_failure: continue}
  - id: branch
    if: "steps.broken.status == 'failed'"
    then:
      - {id: inner-broken, action: notify.webhook, args: {webhook: 9}, on_failure: {goto: landing}}
      - {id: skipped-by-goto, action: notify.webhook, args: {text: "never"}}
  - {id: also-skipped, action: notify.webhook, args: {text: "never"}}
  - {id: landing, action: notify.webhook, args: {text: "landed after ${{ steps['inner-broken'].error }}"}}
"""
    )
    result = await runner.run(pb)
    assert result.status is RunStatus.COMPLETED
    assert [r.id for r in result.steps] == ["broken", "branch", "inner-broken", "landing"]
    assert texts(webhook_sink) == ["landed after webhook #9 is no longer configured (1 configured)"]


async def test_for_each_longer_than_max_items_fails_before_any_item(runner: Runner, webhook_sink: WebhookSink) -> None:
    pb = playbook(
        """
id: too-many
name: Too many
version: "1"
steps:
  - id: each
    for_each: "[1, 2, 3, 4]"
    max_items: 3
    steps: [{id: send, action: notify.webhook, args: {text: "item ${{ item }}"}}]
"""
    )
    result = await runner.run(pb)
    assert result.status is RunStatus.FAILED
    assert result.error == "step 'each' failed: for_each gave 4 items, more than max_items 3: no item was run"
    assert webhook_sink.bodies() == []


async def test_join_any_cancels_the_other_branches(runner: Runner, webhook_sink: WebhookSink) -> None:
    pb = playbook(
        """
id: race
name: Race
version: "1"
steps:
  - id: race
    join: any
    parallel:
      - [{id: slow, wait: {delay: 1h}}]
      - [{id: fast, action: data.set, args: {won: true}}]
  - {id: after, action: notify.webhook, args: {text: "winner ${{ steps.fast.result.won }}"}}
"""
    )
    handle = await runner.start(pb)
    result = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.status is RunStatus.COMPLETED
    by_id = {r.id: r for r in result.steps}
    assert by_id["race"].decision == "branch 1"
    assert (by_id["slow"].status, by_id["slow"].error) == (StepStatus.FAILED, "cancelled")
    assert texts(webhook_sink) == ["winner true"]
    await assert_replays(handle)


async def test_dry_run_makes_no_mutating_call_and_lists_the_steps(runner: Runner, webhook_sink: WebhookSink) -> None:
    result = await runner.run(
        EVERY_KIND,
        inputs={"ip": "198.51.100.9", "hosts": ["h1", "h2"]},
        catalog={"notify-team": NOTIFY_TEAM},
        dry_run=True,
    )
    assert result.status is RunStatus.COMPLETED, result.error
    assert webhook_sink.bodies() == []  # zero mutating calls
    assert [(r.id, r.iteration) for r in result.steps] == [
        ("lookup", None),
        ("skipped-note", None),
        ("decide", None),
        ("approve-block", None),
        ("block", None),
        ("block-edge", None),
        ("block-hosts", None),
        ("isolate", 0),
        ("isolate", 1),
        ("by-severity", None),
        ("hold", None),
        ("tell-team", None),
        ("tell-team/send", None),
    ]
    by_id = {(r.id, r.iteration): r for r in result.steps}
    edge = by_id[("block-edge", None)]
    assert (edge.simulated, edge.args) == (True, {"text": "block 198.51.100.9 at the edge"})
    assert by_id[("tell-team/send", None)].args == {"text": "team: blocked 198.51.100.9 on 2 hosts"}
    assert by_id[("lookup", None)].simulated is False and by_id[("lookup", None)].result["score"] == 91
    assert by_id[("approve-block", None)].simulated and by_id[("hold", None)].simulated
    assert ("decide", "then") in result.decisions() and ("by-severity", "high") in result.decisions()


async def test_cancelling_a_run_undoes_its_completed_steps(runner: Runner, webhook_sink: WebhookSink) -> None:
    pb = playbook(
        """
id: cancel-me
name: Cancel me
version: "1"
steps:
  - {id: a, action: notify.webhook, args: {text: "a"}, compensate: {action: notify.webhook, args: {text: "undo a"}}}
  - {id: b, action: notify.webhook, args: {text: "b"}, compensate: {action: notify.webhook, args: {text: "undo b"}}}
  - {id: hold, wait: {delay: 1h}}
"""
    )
    handle = await runner.start(pb)
    await state_when(handle, lambda s: any(r.id == "hold" for r in s.steps))
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), timeout=30)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED
    assert texts(webhook_sink) == ["a", "b", "undo b", "undo a"]
    state = await handle.query(PlaybookWorkflow.state)
    assert state.status is RunStatus.CANCELLED
    assert [u.step_id for u in state.compensations] == ["b", "a"]
    await assert_replays(handle)


async def test_a_long_run_continues_as_new_between_steps(runner: Runner) -> None:
    steps = "\n".join(f"  - {{id: s{i}, action: data.set, args: {{n: {i}}}}}" for i in range(25))
    pb = playbook(f'id: long\nname: Long\nversion: "1"\nsteps:\n{steps}\n')
    handle = await runner.start(pb, history_limit=60)
    result = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.status is RunStatus.COMPLETED
    assert [r.result["n"] for r in result.steps] == list(range(25))
    assert (await handle.describe()).run_id != handle.first_execution_run_id


async def test_cancelled_long_action_finishes_before_its_undo_starts(temporal_client: Client) -> None:
    # WAIT_CANCELLATION_COMPLETED: the compensation starts only once the in-flight action has ended, so the
    # sink sees the slow call before the undo (with TRY_CANCEL the undo would overtake it).
    def slow(item: dict) -> None:
        if isinstance(item["body"], dict) and item["body"].get("text") == "slow":
            time.sleep(2)

    sink = WebhookSink(on_request=slow).start()
    pb = playbook(
        """
id: cancel-in-flight
name: Cancel in flight
version: "1"
steps:
  - {id: a, action: notify.webhook, args: {text: "a"}, compensate: {action: notify.webhook, args: {text: "undo a"}}}
  - {id: long, action: notify.webhook, args: {text: "slow"}, timeout: 1m}
"""
    )
    try:
        async with playbook_worker(temporal_client, sink.url) as runner:
            handle = await runner.start(pb)
            await state_when(handle, lambda s: any(r.id == "long" for r in s.steps))
            await asyncio.sleep(0.3)
            await handle.cancel()
            with pytest.raises(WorkflowFailureError):
                await asyncio.wait_for(handle.result(), timeout=30)
            assert texts(sink) == ["a", "slow", "undo a"]
    finally:
        sink.stop()


async def test_a_block_timeout_bounds_the_whole_step(runner: Runner, webhook_sink: WebhookSink) -> None:
    pb = playbook(
        """
id: bounded
name: Bounded
version: "1"
steps:
  - id: both
    timeout: 1s
    parallel:
      - [{id: stuck, wait: {delay: 1h}}]
      - [{id: quick, action: data.set, args: {x: 1}}]
    on_failure: continue
  - {id: after, action: notify.webhook, args: {text: "${{ steps.both.status }}: ${{ steps.both.error }}"}}
"""
    )
    result = await runner.run(pb)
    assert result.status is RunStatus.COMPLETED
    assert texts(webhook_sink) == ["failed: did not finish within 1s"]
    assert {r.id: r.status for r in result.steps}["stuck"] is StepStatus.FAILED


CHILD = playbook(
    """
id: child-block
name: Child block
version: "1"
inputs: {fail: {type: boolean, default: false}}
steps:
  - id: block
    action: notify.webhook
    args: {text: "child block"}
    compensate: {action: notify.webhook, args: {text: "child unblock"}}
  - {id: maybe-fail, when: "inputs.fail", action: notify.webhook, args: {webhook: 9}}
"""
)


async def test_child_playbooks_undo_their_own_steps_or_hand_them_to_the_parent(
    runner: Runner, webhook_sink: WebhookSink
) -> None:
    failing_child = playbook(
        'id: p1\nname: P1\nversion: "1"\nsteps:\n  - {id: run-child, playbook: child-block, inputs: {fail: true}}\n',
        {"child-block": CHILD},
    )
    result = await runner.run(failing_child, catalog={"child-block": CHILD})
    assert result.status is RunStatus.FAILED
    assert "playbook 'child-block' failed: step 'maybe-fail' failed" in (result.error or "")
    assert texts(webhook_sink) == ["child block", "child unblock"]  # undone once, by the child
    assert result.compensations == []

    webhook_sink.received.clear()
    parent_fails_later = playbook(
        """
id: p2
name: P2
version: "1"
steps:
  - {id: run-child, playbook: child-block}
  - {id: boom, action: notify.webhook, args: {webhook: 9}}
""",
        {"child-block": CHILD},
    )
    result = await runner.run(parent_fails_later, catalog={"child-block": CHILD})
    assert result.status is RunStatus.FAILED
    assert texts(webhook_sink) == ["child block", "child unblock"]  # the parent ran the child's undo
    assert [u.step_id for u in result.compensations] == ["block"]
