"""Guardrails no approval lifts, checked inside the activity right before the call: a protected asset (by address,
by a range reaching it, by the EDR's device id, by account), an address that never leaves its host, and a
known-good value are never acted on — whatever the playbook says, and even when a person approved the step. The
refusal is the step's error (and the incident's); the tool is never called."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.support.playbook_runs import Runner, incident, playbook, playbook_worker, state_when
from tests.support.stack import RedisServer, make_settings
from tests.support.vendors.crowdstrike import Falcon
from xorb_orchestrator.activities.actions.guard import Guard
from xorb_orchestrator.connectors.connections import Auth, Connection, Connections
from xorb_orchestrator.connectors.openc2 import DENY, NetArgs
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.infrastructure.audit_log import AuditLog
from xorb_orchestrator.infrastructure.indicator_store import IndicatorStore
from xorb_orchestrator.models.plan import PlannedStep
from xorb_orchestrator.models.playbook_run import ApprovalDecision, RunStatus
from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict
from xorb_orchestrator.models.workflow_io import ActionInput
from xorb_orchestrator.workflows.playbook.workflow import PlaybookWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]
CEO_DEVICE = "c0ffee00c0ffee00c0ffee00c0ffee00"
SECRET = "falcon-secret-" + uuid.uuid4().hex
ASSETS = f"""
assets:
  - name: ceo-laptop
    hosts: [ceo-laptop.corp.example]
    ips: [10.20.0.5]
    users: [ceo@corp.example]
    devices: [{CEO_DEVICE}]
    protected: true
"""


@pytest.fixture
def falcon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Falcon]:
    monkeypatch.setenv("XORB_TEST_FALCON_SECRET", SECRET)
    (tmp_path / "assets.yaml").write_text(ASSETS)
    monkeypatch.setenv("XORB_ASSETS_FILE", str(tmp_path / "assets.yaml"))  # read by the worker's guard
    running = Falcon("0123456789abcdef0123456789abcdef", SECRET, {CEO_DEVICE: "ceo-laptop"}).start()
    try:
        yield running
    finally:
        running.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def runner(temporal_client: Client, webhook_sink: WebhookSink, falcon: Falcon) -> AsyncIterator[Runner]:
    auth = Auth(type="oauth2", token_url=f"{falcon.url}/oauth2/token", client_id="0123456789abcdef0123456789abcdef",
                client_secret="env:XORB_TEST_FALCON_SECRET")  # fmt: skip
    edr = Connection(name="edr", type="crowdstrike", url=falcon.url, auth=auth, options={"poll_seconds": 0.02})
    # The gateway is never reached: every call below is refused before it is made.
    gw = Connection(name="gw", type="openc2-slpf", url="http://127.0.0.1:9/openc2")
    async with playbook_worker(temporal_client, webhook_sink.url, Connections(connections=[edr, gw])) as worker:
        yield worker


GATED_CONTAINMENT = f"""
id: contain-the-ceo
name: Contain a host a person approved
version: "1"
steps:
  - id: approve
    approval: {{approvers: {{roles: [soc-lead]}}, timeout: 5m, gates: [contain]}}
  - id: contain
    action: crowdstrike.contain
    args: {{device_id: "{CEO_DEVICE}", connection: edr}}
"""


async def test_a_protected_host_is_never_isolated_even_when_a_person_approved(runner: Runner, falcon: Falcon) -> None:
    handle = await runner.start(playbook(GATED_CONTAINMENT))
    state = await state_when(handle, lambda s: bool(s.pending_approvals))
    request = state.pending_approvals[0]
    decision = ApprovalDecision(incident_id=request.incident_id, step_id="approve", approver="dana",
                                roles=["soc-lead"])  # fmt: skip
    await handle.execute_update(PlaybookWorkflow.approve, decision)
    result = await asyncio.wait_for(handle.result(), 30)
    assert result.status is RunStatus.FAILED
    contain = result.steps[1]
    assert contain.attempts == 1 and contain.error is not None
    assert f"guardrail: host {CEO_DEVICE} is protected asset 'ceo-laptop'" in contain.error
    assert falcon.calls_to("POST", "/devices/entities/devices-actions/v2") == []  # the EDR was never asked


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.20.0.5", "10.20.0.5/32 reaches protected asset 'ceo-laptop' (10.20.0.5/32)"),
        ("10.0.0.0/8", "10.0.0.0/8 reaches protected asset 'ceo-laptop' (10.20.0.5/32)"),
        ("127.0.0.1", "127.0.0.1/32 never leaves its host or link"),
    ],
)
async def test_a_block_that_would_reach_a_protected_asset_or_the_host_itself_is_refused(
    runner: Runner, address: str, why: str
) -> None:
    block = f"""
id: block-it
name: Block
version: "1"
steps:
  - {{id: block, action: openc2.deny, args: {{address: "{address}", connection: gw}}}}
"""
    result = await runner.run(playbook(block))
    assert result.status is RunStatus.FAILED and why in (result.steps[0].error or ""), result.steps[0].error
    assert result.steps[0].attempts == 1  # refused, not retried


async def test_a_known_good_address_is_refused_inside_the_activity(redis_server: RedisServer) -> None:
    store = IndicatorStore(redis_server.url, prefix=f"test-{uuid.uuid4().hex[:8]}:")
    seen = datetime.now(UTC) - timedelta(hours=1)
    good = SourceVerdict(source="partners", kind=IndicatorKind.IPV4, value="192.0.2.44", score=0, known_good=True,
                         last_seen=seen)  # fmt: skip
    await store.apply_page("partners", [good], sync_id="s1")
    audit = AuditLog(redis_server.url, prefix=f"test-{uuid.uuid4().hex[:8]}:")
    guard = Guard(make_settings("127.0.0.1:7233", redis_server.url), client=None, indicators=store, audit=audit)
    request = ActionInput(
        incident_id="incident-kg",
        step=PlannedStep(id="playbook-incident-kg-1/block", action="openc2.deny", args={"address": "192.0.2.44"}),
        incident=incident("incident-kg"),
    )
    try:
        with pytest.raises(ApplicationError) as refused:
            await ActivityEnvironment().run(guard.check, DENY, NetArgs(address="192.0.2.44"), request)
        # The refusal is in the audit log, with its rule and reason, and the chain holds.
        [entry] = [e async for e in audit.entries()]
        assert (await audit.verify()).ok
    finally:
        await store.close()
        await audit.close()
    assert refused.value.type == "GuardrailRefused" and refused.value.non_retryable
    assert "ip 192.0.2.44/32 is known good (partners)" in refused.value.message
    assert (entry.kind, entry.actor, entry.incident_id) == ("guardrail", "autonomous", "incident-kg")
    assert entry.detail["outcome"] == "refuse" and entry.detail["rule"] == "known_good"
