"""Large alerts cannot wedge an incident: everything a workflow carries is bounded in bytes."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from tests.support.stack import (
    RedisServer,
    make_settings,
    service,
)
from xorb_orchestrator.models.alert import MAX_RAW_BYTES

pytestmark = pytest.mark.timeout(120)
WINDOW = 15  # seconds: the incident closes this long after its last alert (and not before its window ends)
BIG = 900 * 1024


def big_alert(rule: str, n: int) -> dict[str, object]:
    return {
        "id": f"{rule}-{n}",
        "title": "Exfiltration: oversized request body",
        "severity": "high",
        "source": "large-alerts",
        "rule": rule,
        "observables": {"src_ip": "10.0.0.20", "dest_ip": "203.0.113.20"},
        "raw": {"n": n, "body": "A" * BIG},
    }


async def test_twenty_900_kb_alerts_on_one_key_leave_the_incident_healthy(
    temporal_address: str, temporal_client: Client, redis_server: RedisServer
) -> None:
    settings = make_settings(
        temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=WINDOW, XORB_ALERT_MAX_BYTES=1024 * 1024
    )
    rule = "big-" + uuid.uuid4().hex[:8]
    while time.time() % WINDOW > 2:  # start at a window's beginning, so the 20 alerts share one incident
        await asyncio.sleep(0.1)
    async with service(settings) as svc:
        ids = {await svc.send_alert(big_alert(rule, n)) for n in range(20)}
        assert len(ids) == 1, ids
        (incident_id,) = ids
        view = await svc.wait_for_view(
            incident_id, lambda v: v["alert_count"] == 20 and v["status"] == "completed", 30, "count 20, completed"
        )
        # Samples are kept as excerpts: their size and hash say what the detector sent.
        assert view["samples"] and all(sample["_truncated"] is True for sample in view["samples"])
        assert all(sample["size"] > BIG and len(sample["sha256"]) == 64 for sample in view["samples"])
        assert len((await svc.http.get(f"/v1/incidents/{incident_id}")).content) < 10 * MAX_RAW_BYTES
        handle = temporal_client.get_workflow_handle(incident_id)
        deadline = time.monotonic() + 3 * WINDOW
        while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            assert time.monotonic() < deadline, "the incident did not close at the end of its window"
            await asyncio.sleep(0.5)
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
        failed_tasks = [
            event
            async for event in handle.fetch_history_events()
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        ]
        assert not failed_tasks, failed_tasks[0]
