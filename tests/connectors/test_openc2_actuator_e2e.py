"""Issue 11's first acceptance point: a playbook blocks an incident's C2 address through `xorb actuator slpf`
acting on a gateway network namespace — traffic stops, the receipt holds the rule number and the expiry, and at
expiry traffic flows again; a worker SIGKILLed while the block is in flight (the actuator has made the rule, the
answer has not reached the worker) leaves exactly one rule once a new worker runs the step again.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client

from tests.support.actuator import KEY_VARIABLE, Actuator, planned_actuator, running_actuator
from tests.support.netns import Pair, namespace_pair
from tests.support.playbook_runs import Runner, incident, playbook, playbook_worker
from tests.support.processes import start_xorb, worker_env, xorb_processes
from tests.support.stack import make_settings
from xorb_orchestrator.connectors.base import CallContext
from xorb_orchestrator.connectors.connections import Auth, Connection, Connections
from xorb_orchestrator.connectors.openc2 import NetArgs, deny
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.infrastructure.nftables import NftFirewall
from xorb_orchestrator.models.playbook_run import PlaybookRunResult, RunStatus
from xorb_orchestrator.service import action_catalog
from xorb_orchestrator.services import playbook_runs

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


@pytest.fixture
def pair() -> Iterator[Pair]:
    with namespace_pair() as made:
        yield made


@pytest.fixture
def actuator(pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Actuator]:
    planned = planned_actuator(tmp_path)
    monkeypatch.setenv(KEY_VARIABLE, planned.key)  # the producer's reference resolves to it
    with running_actuator(planned, pair, tmp_path) as running:
        yield running


def gateway(url: str) -> Connection:
    return Connection(name="gw", type="openc2-slpf", url=url, auth=Auth(type="bearer", token=f"env:{KEY_VARIABLE}"))


@pytest_asyncio.fixture(loop_scope="session")
async def runner(temporal_client: Client, webhook_sink: WebhookSink, actuator: Actuator) -> AsyncIterator[Runner]:
    connections = Connections(connections=[gateway(actuator.url)])
    async with playbook_worker(temporal_client, webhook_sink.url, connections) as worker:
        yield worker


def block_playbook(address: str, duration: str, timeout: str = "1m") -> str:
    return f"""
id: block-c2-openc2
name: Block the C2 address through OpenC2
version: "1"
steps:
  - id: block
    action: openc2.deny
    args: {{address: "{address}", duration: {duration}, connection: gw}}
    timeout: {timeout}
    retry: {{max_attempts: 3, initial_interval: 1s}}
    compensate:
      action: openc2.delete
      args: {{rule_number: "${{{{ steps.block.result.rule_number }}}}", connection: gw}}
"""


async def test_a_playbook_blocks_the_c2_through_the_actuator_until_the_block_ends(runner: Runner, pair: Pair) -> None:
    assert pair.reachable()
    handle = await runner.start(playbook(block_playbook(pair.client_ip, "4s")))
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


async def test_the_same_block_sent_twice_leaves_one_rule(actuator: Actuator, pair: Pair) -> None:
    context = CallContext(key="incident-k/block", incident_id="incident-k", attempt=1)
    args = NetArgs(address=pair.client_ip, duration=None)
    first = await deny(gateway(actuator.url), args, context)
    again = await deny(gateway(actuator.url), args, CallContext(key=context.key, incident_id="incident-k", attempt=2))
    assert first.details["rule_number"] == again.details["rule_number"]
    blocked = [e.value for e in await NftFirewall(netns=pair.gateway).elements()]
    assert blocked.count(pair.client_ip) <= 1 and not pair.reachable()


class SwallowingRelay:
    """Between the worker and the actuator: passes every command on, but keeps the actuator's first answer from
    the worker (the rule is made, the worker never hears of it) and sets `made` — the moment to kill the worker."""

    def __init__(self, upstream: str) -> None:
        self.made = threading.Event()
        self.commands: list[bytes] = []
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                relay.commands.append(body)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("authorization", "content-type")}
                answer = httpx.post(upstream, content=body, headers=headers, timeout=10)
                if len(relay.commands) == 1:
                    relay.made.set()
                    time.sleep(30)  # the worker is killed meanwhile; its connection is gone
                    return
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/openc2"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


async def test_a_worker_killed_during_the_block_leaves_exactly_one_rule(
    temporal_address: str, redis_server: Any, temporal_client: Client, actuator: Actuator, pair: Pair, tmp_path: Path
) -> None:
    relay = SwallowingRelay(actuator.url)
    connections = tmp_path / "connections.yaml"
    connections.write_text(f"connections:\n  - name: gw\n    type: openc2-slpf\n    url: {relay.url}\n"
                           f'    auth: {{type: bearer, token: "env:{KEY_VARIABLE}"}}\n')  # fmt: skip
    settings = make_settings(temporal_address, redis_server.url, XORB_CONNECTORS_FILE=str(connections))
    env = worker_env(settings, XORB_CONNECTORS_FILE=str(connections), **{KEY_VARIABLE: actuator.key})
    # 8 s an attempt: the new worker's first claim may wait for the dead worker's sticky queue to time out (4 s).
    pb = playbook(block_playbook(pair.client_ip, "30s", timeout="8s"))
    try:
        with xorb_processes() as workers:
            first = start_xorb(["worker"], env, tmp_path / "worker-1.log")
            workers.append(first)
            workflow_id = await playbook_runs.start_run(
                temporal_client, settings, action_catalog(), pb, incident(), {}, 1
            )
            assert await asyncio.to_thread(relay.made.wait, 30), f"no block reached the actuator:\n{first.output()}"
            [rule] = actuator.rules_for(pair.client_ip)  # made, and the worker has not heard the answer
            first.signal(signal.SIGKILL)
            assert first.proc.wait(10) == -signal.SIGKILL
            workers.append(start_xorb(["worker"], env, tmp_path / "worker-2.log"))
            handle = temporal_client.get_workflow_handle(workflow_id, result_type=PlaybookRunResult)
            result = await asyncio.wait_for(handle.result(), 60)
            # Checked while the rule still lasts: the step ran again and found the rule, not a second one.
            assert result.status is RunStatus.COMPLETED, result.error
            assert actuator.rules_for(pair.client_ip) == [rule]
            blocked = [e.value for e in await NftFirewall(netns=pair.gateway).elements()]
            assert blocked.count(pair.client_ip) == 1 and not pair.reachable()
    finally:
        relay.stop()
    step = result.steps[0]
    assert step.attempts >= 2 and len(relay.commands) >= 2
    assert step.result["rule_number"] == rule and step.result["receipt"]["handle"] == f"slpf:rule_number {rule}"
