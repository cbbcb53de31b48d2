"""A worker killed mid-response: the incident resumes on another worker, completed steps never rerun."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.blocking_sink import BlockingSink
from tests.support.processes import start_xorb, worker_env, xorb_processes
from tests.support.stack import make_settings, service
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.service import Roles

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(90)]

ALERT: dict[str, object] = {
    "title": "Credential dumping on a domain controller",
    "severity": "high",
    "source": "edr-1",
    "rule": "lsass-access",
    "observables": {"hostname": "dc01.corp.example", "user": "svc-backup"},
}


async def test_killed_worker_resumes_without_repeating_completed_steps(
    temporal_address: str, redis_server, webhook_sink: WebhookSink, tmp_path: Path
) -> None:
    sink_b = BlockingSink().start()
    settings = make_settings(
        temporal_address,
        redis_server.url,
        XORB_NOTIFY_WEBHOOK_URLS=f"{webhook_sink.url},{sink_b.url}",
    )
    try:
        with xorb_processes() as workers:
            first = start_xorb(["worker"], worker_env(settings), tmp_path / "worker-1.log")
            workers.append(first)
            async with service(settings, Roles(worker=False, api=True)) as api:
                incident_id = await api.send_alert(ALERT)
                # notify-2 is parked at sink B, so notify-1 has completed.
                (arrival,) = await sink_b.wait_for_arrivals(1)
                assert arrival.key == f"{incident_id}/notify-2"
                first.signal(signal.SIGKILL)
                assert first.proc.wait(10) == -signal.SIGKILL

                workers.append(start_xorb(["worker"], worker_env(settings), tmp_path / "worker-2.log"))
                # The dead worker's attempt times out on its heartbeat; the retry reaches sink B
                # from the new worker.
                await sink_b.wait_for_arrivals(2, timeout=30)
                sink_b.open()
                incident = await api.wait_for_incident(incident_id, timeout=30)
    finally:
        sink_b.stop()

    keys = [item["headers"].get("Idempotency-Key") for item in webhook_sink.received]
    assert keys == [f"{incident_id}/notify-1"], "a completed step ran again"
    assert {a.key for a in sink_b.arrivals} == {f"{incident_id}/notify-2"}
    steps = {step["id"]: step for step in incident["steps"]}
    assert steps["notify-1"]["status"] == "completed" and steps["notify-1"]["attempts"] == 1
    assert steps["notify-2"]["status"] == "completed" and steps["notify-2"]["attempts"] >= 2
