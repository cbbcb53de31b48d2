"""The nftables connector for real, in network namespaces: traffic from a client namespace to a gateway stops when
the gateway blocks the client's address and flows again when it is unblocked or the block's time is up; a repeated
block finds the one in place; a playbook's block carries its receipt and its undo runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.client import Client

from tests.support.netns import Pair, namespace_pair
from tests.support.playbook_runs import Runner, playbook, playbook_worker
from xorb_orchestrator.connectors.base import CallContext, ConnectorRejected
from xorb_orchestrator.connectors.connections import Connection, Connections
from xorb_orchestrator.connectors.nftables import BlockArgs, UnblockArgs, block, firewall, health, unblock
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.models.incident import StepStatus
from xorb_orchestrator.models.playbook_run import RunStatus

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(90)]

CONTEXT = CallContext(key="incident-x/block", incident_id="incident-x", attempt=1)


@pytest.fixture
def pair() -> Iterator[Pair]:
    with namespace_pair() as made:
        yield made


def gateway(pair: Pair) -> Connection:
    return Connection(name="gw", type="nftables", options={"netns": pair.gateway})


async def test_a_block_stops_traffic_until_it_is_lifted(pair: Pair) -> None:
    assert pair.reachable()
    connection = gateway(pair)
    done = await block(connection, BlockArgs(address=pair.client_ip), CONTEXT)
    receipt = done.receipt
    assert receipt is not None and receipt.verified is not None and receipt.verified.ok
    assert (receipt.handle, receipt.expires_at, receipt.repeated) == (f"inet xorb block4 {pair.client_ip}", None, False)
    assert receipt.undo is not None and receipt.undo.action == "nftables.unblock"
    assert not pair.reachable()

    again = await block(connection, BlockArgs(address=pair.client_ip), CONTEXT)  # a retried step
    assert again.receipt is not None and again.receipt.repeated
    assert [e.value for e in await firewall(connection).elements()] == [pair.client_ip]  # one element, not two

    lifted = await unblock(connection, UnblockArgs(address=pair.client_ip), CONTEXT)
    assert lifted.details["removed"] is True and pair.reachable()
    twice = await unblock(connection, UnblockArgs(address=pair.client_ip), CONTEXT)  # an undo run again
    assert twice.details["removed"] is False and twice.receipt is not None and twice.receipt.repeated


async def test_a_timed_block_ends_by_itself_and_a_longer_one_refreshes_the_expiry(pair: Pair) -> None:
    connection = gateway(pair)
    short = await block(connection, BlockArgs(address=pair.client_ip, duration=timedelta(seconds=2)), CONTEXT)
    assert short.receipt is not None and short.receipt.expires_at is not None
    assert not pair.reachable()
    longer = await block(connection, BlockArgs(address=pair.client_ip, duration=timedelta(seconds=3)), CONTEXT)
    assert longer.receipt is not None and not longer.receipt.repeated  # refreshed: add, delete, add
    deadline = time.monotonic() + 8
    while not pair.reachable():
        assert time.monotonic() < deadline, "the block did not end on time"
        await asyncio.sleep(0.3)


async def test_health_and_a_namespace_that_is_not_there(pair: Pair) -> None:
    said = await health(gateway(pair))
    assert "nft works" in said
    missing = Connection(name="gw", type="nftables", options={"netns": "no-such-ns-xorb"})
    with pytest.raises(ConnectorRejected, match="no network namespace no-such-ns-xorb"):
        await block(missing, BlockArgs(address="192.0.2.1"), CONTEXT)


@pytest_asyncio.fixture(loop_scope="session")
async def runner(temporal_client: Client, webhook_sink: WebhookSink, pair: Pair) -> AsyncIterator[Runner]:
    async with playbook_worker(temporal_client, webhook_sink.url, Connections(connections=[gateway(pair)])) as worker:
        yield worker


async def test_a_playbook_blocks_with_a_receipt_and_its_undo_lifts_the_block(runner: Runner, pair: Pair) -> None:
    pb = playbook(
        f"""
id: block-then-fail
name: Block, then a step fails
version: "1"
steps:
  - id: block
    action: nftables.block
    args: {{address: "{pair.client_ip}", duration: 10m, connection: gw}}
    compensate: {{action: nftables.unblock, args: {{address: "{pair.client_ip}", connection: gw}}}}
  - id: check
    action: nftables.list
  - id: fail
    action: http.request
    args: {{url: "http://127.0.0.1:1/nowhere"}}
    retry: {{max_attempts: 1}}
"""
    )
    result = await runner.run(pb)
    assert result.status is RunStatus.FAILED
    blocked = result.steps[0]
    assert blocked.status is StepStatus.COMPLETED
    receipt = blocked.result["receipt"]
    assert receipt["handle"] == f"inet xorb block4 {pair.client_ip}" and receipt["expires_at"] is not None
    assert receipt["undo"] == {"action": "nftables.unblock", "args": {"address": pair.client_ip, "connection": "gw"}}
    assert result.steps[1].result["count"] == 1
    assert [(u.step_id, u.status) for u in result.compensations] == [("block", "completed")]
    assert pair.reachable()  # the undo lifted it
