"""Releasing restores the state that was there before: a host another team had already contained is found
contained on the step's first attempt — the receipt says `preexisting`, carries no undo, and nothing of ours lifts
that containment when the run fails later (or its containment ends). Our own containment is lifted as usual."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from temporalio.client import Client

from tests.support.playbook_runs import Runner, playbook, playbook_worker
from tests.support.vendors.crowdstrike import Falcon
from xorb_orchestrator.connectors.connections import Auth, Connection, Connections
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.models.playbook_run import RunStatus

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]
CLIENT = "0123456789abcdef0123456789abcdef"
SECRET = "falcon-secret-" + uuid.uuid4().hex
THEIRS, OURS = "a" * 32, "b" * 32


@pytest.fixture
def falcon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Falcon]:
    monkeypatch.setenv("XORB_TEST_FALCON_SECRET", SECRET)
    running = Falcon(CLIENT, SECRET, {THEIRS: "ws-theirs", OURS: "ws-ours"}).start()
    running.status[THEIRS] = "contained"  # the IR team contained it an hour ago
    try:
        yield running
    finally:
        running.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def runner(temporal_client: Client, webhook_sink: WebhookSink, falcon: Falcon) -> AsyncIterator[Runner]:
    auth = Auth(type="oauth2", token_url=f"{falcon.url}/oauth2/token", client_id=CLIENT,
                client_secret="env:XORB_TEST_FALCON_SECRET")  # fmt: skip
    edr = Connection(name="edr", type="crowdstrike", url=falcon.url, auth=auth, options={"poll_seconds": 0.02})
    async with playbook_worker(temporal_client, webhook_sink.url, Connections(connections=[edr])) as worker:
        yield worker


def contain_then_fail(device: str) -> str:
    return f"""
id: contain-then-fail-{device[:4]}
name: Contain, then a later step fails
version: "1"
steps:
  - id: contain
    action: crowdstrike.contain
    args: {{device_id: "{device}"}}
    compensate: {{action: crowdstrike.lift_containment, args: {{device_id: "{device}"}}}}
  - id: later
    action: data.set
    args: {{x: "${{{{ steps.contain.result.nope }}}}"}}
"""


async def test_a_containment_found_in_place_is_not_ours_to_lift(runner: Runner, falcon: Falcon) -> None:
    result = await runner.run(playbook(contain_then_fail(THEIRS)))
    assert result.status is RunStatus.FAILED
    receipt = result.steps[0].result["receipt"]
    assert receipt["repeated"] and receipt["preexisting"] and receipt["undo"] is None
    assert result.compensations == [] and falcon.actions == []  # never contained by us, never lifted by us
    assert falcon.status[THEIRS] == "contained"


async def test_our_own_containment_is_lifted_when_the_run_fails(runner: Runner, falcon: Falcon) -> None:
    result = await runner.run(playbook(contain_then_fail(OURS)))
    assert result.status is RunStatus.FAILED
    assert not result.steps[0].result["receipt"]["preexisting"]
    assert [(u.step_id, u.status) for u in result.compensations] == [("contain", "completed")]
    assert falcon.actions == [("contain", OURS), ("lift_containment", OURS)]
