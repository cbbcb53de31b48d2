"""Issue 11's first acceptance point: a playbook blocks an incident's C2 address through `xorb actuator slpf`
acting on a gateway network namespace — traffic stops, the receipt holds the rule number and the expiry, and at
expiry traffic flows again; a block sent twice (a worker killed mid-step and the step run again) leaves one rule.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client

from tests.support.netns import Pair, namespace_pair
from tests.support.playbook_runs import Runner, playbook, playbook_worker
from tests.support.processes import XorbProcess, clean_env, start_xorb, xorb_processes
from xorb_orchestrator.connectors.base import CallContext
from xorb_orchestrator.connectors.connections import Auth, Connection, Connections
from xorb_orchestrator.connectors.openc2 import NetArgs, deny
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.infrastructure.nftables import NftFirewall
from xorb_orchestrator.infrastructure.ports import free_port
from xorb_orchestrator.models.playbook_run import RunStatus

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
KEY_VARIABLE = "XORB_TEST_ACTUATOR_KEY"


@pytest.fixture
def pair() -> Iterator[Pair]:
    with namespace_pair() as made:
        yield made


@pytest.fixture
def actuator(pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, XorbProcess]]:
    key = "actuator-key-" + uuid.uuid4().hex
    monkeypatch.setenv(KEY_VARIABLE, key)  # the producer's reference resolves to it
    port = free_port()
    env = clean_env(XORB_ACTUATOR_API_KEYS=key)
    args = ["actuator", "slpf", "--listen", f"127.0.0.1:{port}", "--netns", pair.gateway,
            "--state-dir", str(tmp_path / "actuator")]  # fmt: skip
    with xorb_processes() as started:
        proc = start_xorb(args, env, tmp_path / "actuator.log")
        started.append(proc)
        url = f"http://127.0.0.1:{port}/openc2"
        deadline = time.monotonic() + 20
        while True:
            assert proc.proc.poll() is None, f"the actuator exited:\n{proc.output()[-2000:]}"
            assert time.monotonic() < deadline, f"the actuator did not come up:\n{proc.output()[-2000:]}"
            try:
                httpx.post(url, json={}, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, proc


def gateway(url: str) -> Connection:
    return Connection(name="gw", type="openc2-slpf", url=url, auth=Auth(type="bearer", token=f"env:{KEY_VARIABLE}"))


@pytest_asyncio.fixture(loop_scope="session")
async def runner(
    temporal_client: Client, webhook_sink: WebhookSink, actuator: tuple[str, XorbProcess]
) -> AsyncIterator[Runner]:
    connections = Connections(connections=[gateway(actuator[0])])
    async with playbook_worker(temporal_client, webhook_sink.url, connections) as worker:
        yield worker


async def test_a_playbook_blocks_the_c2_through_the_actuator_until_the_block_ends(runner: Runner, pair: Pair) -> None:
    assert pair.reachable()
    pb = playbook(
        f"""
id: block-c2-openc2
name: Block the C2 address through OpenC2
version: "1"
steps:
  - id: block
    action: openc2.deny
    args: {{address: "{pair.client_ip}", duration: 4s, connection: gw}}
    compensate:
      action: openc2.delete
      args: {{rule_number: "${{{{ steps.block.result.rule_number }}}}", connection: gw}}
"""
    )
    handle = await runner.start(pb)
    result = await asyncio.wait_for(handle.result(), timeout=30)
    assert result.status is RunStatus.COMPLETED
    receipt = result.steps[0].result["receipt"]
    rule = result.steps[0].result["rule_number"]
    assert receipt["handle"] == f"slpf:rule_number {rule}" and receipt["expires_at"] is not None
    assert receipt["undo"] == {"action": "openc2.delete", "args": {"rule_number": rule, "connection": "gw"}}
    assert not pair.reachable()  # blocked on the gateway
    deadline = time.monotonic() + 12
    while not pair.reachable():
        assert time.monotonic() < deadline, "traffic did not flow again when the rule's duration ended"
        await asyncio.sleep(0.3)


async def test_the_same_block_sent_twice_leaves_one_rule(actuator: tuple[str, XorbProcess], pair: Pair) -> None:
    url, _ = actuator
    context = CallContext(key="incident-k/block", incident_id="incident-k", attempt=1)
    args = NetArgs(address=pair.client_ip, duration=None)
    first = await deny(gateway(url), args, context)
    again = await deny(gateway(url), args, CallContext(key=context.key, incident_id="incident-k", attempt=2))
    assert first.details["rule_number"] == again.details["rule_number"]
    blocked = [e.value for e in await NftFirewall(netns=pair.gateway).elements()]
    assert blocked.count(pair.client_ip) <= 1 and not pair.reachable()
