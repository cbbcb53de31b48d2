"""Guardrails that hold a call for a person, checked inside the activity right before the call, on a real Temporal
server against a local Okta: a one-way action without a person's approval, the kill switch, a spent budget. Each
hold waits as an approval of the step itself (listed, decided like any approval, denied when nobody decides); an
approval lets exactly that call through, and undo calls are never held."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from temporalio.client import Client

from tests.support.playbook_runs import Runner, playbook, playbook_worker, state_when
from tests.support.stack import make_settings
from tests.support.vendors.okta import OktaOrg
from xorb_orchestrator.connectors.connections import Auth, Connection, Connections
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.models.guardrails import AutonomyState, GuardrailsState, PauseRequest
from xorb_orchestrator.models.ids import guardrails_id
from xorb_orchestrator.models.playbook_run import ApprovalDecision, RunStatus
from xorb_orchestrator.services import autonomy as services_autonomy
from xorb_orchestrator.workflows.guardrails import GuardrailsWorkflow
from xorb_orchestrator.workflows.playbook.workflow import PlaybookWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(90)]
TOKEN = "okta-token-guardrails"


@pytest.fixture
def org(monkeypatch: pytest.MonkeyPatch) -> Iterator[OktaOrg]:
    monkeypatch.setenv("XORB_TEST_OKTA_TOKEN", TOKEN)
    running = OktaOrg(TOKEN)
    for n in range(6):
        running.add_user(f"00u{n}", f"user{n}@example.com")
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def runner(
    temporal_client: Client, webhook_sink: WebhookSink, org: OktaOrg, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Runner]:
    monkeypatch.setenv("XORB_BUDGETS", "disable_account=2/1h")
    auth = Auth(type="header", header="Authorization", token="env:XORB_TEST_OKTA_TOKEN")
    okta = Connection(name="idp", type="okta", url=org.url, auth=auth, options={"poll_seconds": 0.02})
    async with playbook_worker(temporal_client, webhook_sink.url, Connections(connections=[okta])) as worker:
        yield worker


def suspend(user: str, *, sign_out: bool = False) -> str:
    text = f"""
id: suspend-{user}
name: Suspend {user}
version: "1"
steps:
  - id: suspend
    action: okta.suspend_user
    args: {{user: "{user}"}}
    compensate: {{action: okta.unsuspend_user, args: {{user: "{user}"}}}}
"""
    if sign_out:
        text += f"""  - id: sign-out
    action: okta.clear_sessions
    args: {{user: "{user}"}}
"""
    return text


async def decide(handle: object, step: str, approve: bool, who: str = "dana") -> None:
    state = await state_when(handle, lambda s: any(r.step_id == step for r in s.pending_approvals))  # type: ignore[arg-type]
    request = next(r for r in state.pending_approvals if r.step_id == step)
    assert request.roles == ["soc-lead"] and request.deadline is not None
    decision = ApprovalDecision(
        incident_id=request.incident_id, step_id=step, approver=who, roles=["soc-lead"], approve=approve
    )
    await handle.execute_update(PlaybookWorkflow.approve, decision)  # type: ignore[attr-defined]


async def guardrails(client: Client, runner: Runner) -> GuardrailsState:
    handle = client.get_workflow_handle(guardrails_id(runner.task_queue))
    return await handle.query(GuardrailsWorkflow.state)


async def autonomy(client: Client, runner: Runner, update: str) -> AutonomyState:
    """Pause or resume the runner's deployment as the API does (services/autonomy.py)."""
    settings = make_settings(str(client.service_client.config.target_host), "redis://127.0.0.1:1/0",
                             TEMPORAL_TASK_QUEUE=runner.task_queue)  # fmt: skip
    change = services_autonomy.pause if update == "pause" else services_autonomy.resume
    return await change(client, settings, PauseRequest(by="dana", reason="drill"))


async def test_a_one_way_action_waits_for_a_person_and_runs_once_approved(runner: Runner, org: OktaOrg) -> None:
    handle = await runner.start(playbook(suspend("00u0", sign_out=True)))
    await decide(handle, "sign-out", approve=True)
    result = await asyncio.wait_for(handle.result(), 30)
    assert result.status is RunStatus.COMPLETED, result.error
    sign_out = result.steps[1]
    assert sign_out.decision == "held (one_way): approved" and [v.approver for v in sign_out.votes] == ["dana"]
    assert sign_out.result["guardrail"]["rule"] == "one_way"
    assert sign_out.result["guardrail"]["approved_by"] == ["dana"]
    assert [c for c in org.calls() if c[0] == "DELETE"] == [("DELETE", "/api/v1/users/00u0/sessions")]


async def test_a_denied_hold_fails_the_step_and_undoes_what_came_before(runner: Runner, org: OktaOrg) -> None:
    handle = await runner.start(playbook(suspend("00u1", sign_out=True)))
    await decide(handle, "sign-out", approve=False)
    result = await asyncio.wait_for(handle.result(), 30)
    assert result.status is RunStatus.FAILED and "held by a guardrail" in (result.error or "")
    assert [(u.step_id, u.status) for u in result.compensations] == [("suspend", "completed")]  # never held
    assert org.status("00u1") == "ACTIVE" and not [
        c for c in org.calls() if c == ("DELETE", "/api/v1/users/00u1/sessions")
    ]


async def test_the_kill_switch_holds_new_effects_until_resumed(
    runner: Runner, org: OktaOrg, temporal_client: Client
) -> None:
    paused = await autonomy(temporal_client, runner, "pause")
    assert paused.paused and paused.by == "dana"
    try:
        handle = await runner.start(playbook(suspend("00u2")))
        state = await state_when(handle, lambda s: bool(s.pending_approvals))
        assert "autonomy is paused by dana" in state.pending_approvals[0].message
        assert org.status("00u2") == "ACTIVE"  # not called
        await decide(handle, "suspend", approve=True)  # a person may still act while paused
        result = await asyncio.wait_for(handle.result(), 30)
        assert result.status is RunStatus.COMPLETED and org.status("00u2") == "SUSPENDED"
    finally:
        resumed = await autonomy(temporal_client, runner, "resume")
    assert not resumed.paused
    assert (await guardrails(temporal_client, runner)).autonomy.paused is False


async def test_a_spent_budget_holds_the_next_effect_and_counts_approved_ones(
    runner: Runner, org: OktaOrg, temporal_client: Client
) -> None:
    results = [await runner.run(playbook(suspend(user))) for user in ("00u3", "00u4")]
    assert [r.status for r in results] == [RunStatus.COMPLETED] * 2
    held = await runner.start(playbook(suspend("00u5")))
    state = await state_when(held, lambda s: bool(s.pending_approvals))
    assert "over budget: 2 of 2 disable_account effects per 1h already made" in state.pending_approvals[0].message
    assert org.status("00u5") == "ACTIVE"
    await decide(held, "suspend", approve=True)
    result = await asyncio.wait_for(held.result(), 30)
    assert result.status is RunStatus.COMPLETED and org.status("00u5") == "SUSPENDED"
    [use] = (await guardrails(temporal_client, runner)).budgets
    assert (use.budget.name, use.budget.limit, use.used) == ("disable_account", 2, 3)
