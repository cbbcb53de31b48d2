"""Issue 12's acceptance: a 30-second containment is undone on time after `xorb dev` is stopped for 10 s in the
middle of it. The block goes to the OpenC2 actuator on a gateway namespace (its rule would last 24 h on its own),
so the rule's removal is the ContainmentWorkflow's durable timer, fired by the restarted worker."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.devtools.test_dev_restart import start_dev, wait_completed
from tests.support.actuator import KEY_VARIABLE, planned_actuator, running_actuator
from tests.support.intel import feeds_file
from tests.support.netns import namespace_pair
from tests.support.processes import xorb_processes
from xorb_orchestrator.devtools.webhook_sink import WebhookSink

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180), pytest.mark.chaos]
C2 = "198.51.100.77"
POLICY = """
version: 1
name: thirty-seconds
rules:
  - name: block-briefly
    targets: [{type: ip, ours: false, hit: true}]
    playbook: contain-malicious-ip
    autonomy: auto
    duration: 30s
  - name: observe
    playbook: none
    autonomy: observe
"""


async def test_a_containment_ends_on_time_across_a_dev_stack_restart(tmp_path: Path) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    feeds = feeds_file(tmp_path, C2)
    data_dir = tmp_path / "xorb-dev"
    sink = WebhookSink().start()
    with namespace_pair() as pair, running_actuator(planned_actuator(tmp_path), pair, tmp_path) as actuator:
        (tmp_path / "connections.yaml").write_text("connections:\n" + actuator.connection_yaml())
        env = {"XORB_POLICY_FILE": str(tmp_path / "policy.yaml"), "XORB_TI_FEEDS_FILE": str(feeds),
               "XORB_CONNECTORS_FILE": str(tmp_path / "connections.yaml"), KEY_VARIABLE: actuator.key}  # fmt: skip
        try:
            with xorb_processes() as running:
                dev, endpoints, _ = await start_dev(data_dir, sink, tmp_path / "dev-1.log", **env)
                running.append(dev)
                key = (data_dir / "api_key").read_text().strip()
                headers = {"Authorization": f"Bearer {key}"}
                async with httpx.AsyncClient(base_url=endpoints["api_url"], headers=headers, timeout=30) as http:
                    synced = await http.post("/v1/ti/feeds/test-feed/sync", params={"wait": 60}, timeout=90)
                    assert synced.status_code == 200, synced.text
                    observables = {"src_ip": "10.0.0.5", "dest_ip": C2}
                    alert = {"title": "Beacon", "severity": "high", "source": "ids", "rule": "beacon",
                             "observables": observables, "techniques": ["T1071.001"]}  # fmt: skip
                    accepted = await http.post("/v1/alerts", json=alert)
                    incident = await wait_completed(http, accepted.json()["incident_id"], timeout=60)
                until = datetime.fromisoformat(incident["containment"]["until"])
                assert len(actuator.rules_for(C2)) == 1
                seconds_left = until.timestamp() - time.time()
                assert seconds_left > 15, seconds_left  # the restart happens well inside the containment

                dev.signal(signal.SIGTERM)
                assert await asyncio.to_thread(dev.proc.wait, 20) == 0
                await asyncio.sleep(10)  # the whole stack is down for 10 s
                assert len(actuator.rules_for(C2)) == 1  # nothing undid it meanwhile
                dev, endpoints, _ = await start_dev(data_dir, sink, tmp_path / "dev-2.log", **env)
                running.append(dev)

                while actuator.rules_for(C2):
                    assert time.time() < until.timestamp() + 20, "the block outlived its containment"
                    await asyncio.sleep(0.2)
                late = time.time() - until.timestamp()
                print(f"\nundone {late:+.1f}s from the containment's end (xorb dev down 10 s meanwhile)")
                assert -1 < late < 10
        finally:
            sink.stop()
