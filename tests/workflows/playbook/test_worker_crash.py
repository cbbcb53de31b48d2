"""A worker killed while an incident's playbook waits for approval: the run survives, the approval reaches it
through a new worker, and no action runs twice."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.actuator import KEY_VARIABLE, Actuator, planned_actuator, running_actuator
from tests.support.intel import feeds_file, sync_feed
from tests.support.netns import namespace_pair
from tests.support.processes import start_xorb, worker_env, xorb_processes
from tests.support.stack import make_settings, service
from tests.support.tool_servers import PLAYBOOKS_DIR
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.service import Roles

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

ALERT: dict[str, object] = {
    "title": "Beacon to a known C2 server",
    "severity": "high",
    "source": "ids-crash-test",
    "rule": "c2-beacon-crash",
    "observables": {"src_ip": "203.0.113.66"},
    "techniques": ["T1071.001"],
}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Actuator]:
    """The edge firewall the bundled playbook blocks on: an SLPF actuator on a gateway namespace."""
    with namespace_pair() as pair, running_actuator(planned_actuator(tmp_path), pair, tmp_path) as actuator:
        yield actuator


async def test_a_killed_worker_loses_no_playbook_run_and_repeats_no_action(
    temporal_address: str, redis_server: Any, webhook_sink: WebhookSink, tmp_path: Path, gateway: Actuator
) -> None:
    connections = tmp_path / "connections.yaml"
    connections.write_text("connections:\n" + gateway.connection_yaml())
    # A weak TI hit on the address: the bundled policy asks a person before blocking it.
    feeds = str(feeds_file(tmp_path, "203.0.113.66", score=60, confidence=60))
    settings = make_settings(
        temporal_address,
        redis_server.url,
        XORB_NOTIFY_WEBHOOK_URLS=webhook_sink.url,
        XORB_PLAYBOOKS_DIR=str(PLAYBOOKS_DIR),
        XORB_CONNECTORS_FILE=str(connections),
        XORB_TI_FEEDS_FILE=feeds,
    )
    env = worker_env(
        settings,
        XORB_PLAYBOOKS_DIR=str(PLAYBOOKS_DIR),
        XORB_CONNECTORS_FILE=str(connections),
        XORB_TI_FEEDS_FILE=feeds,
        **{KEY_VARIABLE: gateway.key},
    )
    with xorb_processes() as workers:
        first = start_xorb(["worker"], env, tmp_path / "worker-1.log")
        workers.append(first)
        async with service(settings, Roles(worker=False, api=True)) as api:
            await sync_feed(api.http)
            incident_id = await api.send_alert(ALERT)
            await api.wait_for_approval(incident_id)  # `announce` has run; the run waits for a SOC lead
            first.signal(signal.SIGKILL)
            assert first.proc.wait(10) == -signal.SIGKILL

            workers.append(start_xorb(["worker"], env, tmp_path / "worker-2.log"))
            # Until the new worker serves the run, the API says so (503, retry), never "not waiting".
            answers = []
            for _ in range(60):
                response = await api.http.post(
                    f"/v1/incidents/{incident_id}/approvals",
                    json={"step": "approve-block", "approve": True, "comment": "after the crash"},
                    headers={"X-Xorb-Approver": "dana", "X-Xorb-Roles": "soc-lead"},
                    timeout=30,
                )
                answers.append((response.status_code, response.json().get("error")))
                if response.status_code != 503:
                    break
                assert response.headers["Retry-After"] == "5"
                await asyncio.sleep(0.5)
            assert response.status_code == 200, (answers, response.text)
            assert set(answers[:-1]) <= {(503, "run_not_answering")}, answers
            incident = await api.wait_for_incident(incident_id, timeout=40)

    run = incident["playbook_run"]
    assert run["status"] == "completed" and run["playbook_id"] == "contain-malicious-ip"
    assert [(s["id"], s["status"]) for s in run["steps"]] == [
        ("announce", "completed"),
        ("approve-block", "completed"),
        ("decide", "completed"),
        ("block-ip", "completed"),
        ("tell-blocked", "completed"),
    ]
    assert len(gateway.rules_for("203.0.113.66")) == 1  # blocked once
    texts = [item["body"]["text"] for item in webhook_sink.received if incident_id in str(item["body"])]
    # Each once: the announcement, the approval asked and decided (notify.approval), the block's report.
    assert len(texts) == 4, texts
    assert "asks to block" in texts[0] and texts[1].startswith("Approval needed, incident " + incident_id)
    assert "step approve-block" in texts[1] and "Who: role soc-lead by " in texts[1]
    assert texts[2] == f"Approval of step approve-block, incident {incident_id} ({ALERT['title']}): approved (by dana)"
    assert "is blocked" in texts[3]
