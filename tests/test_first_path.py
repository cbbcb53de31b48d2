"""The first complete path on real parts: an alert in, an incident completed, a notification out."""

from __future__ import annotations

import pytest

from tests.support.stack import make_settings, service
from xorb_orchestrator.devtools.webhook_sink import WebhookSink

pytestmark = pytest.mark.asyncio(loop_scope="session")

ALERT = {
    "id": "evt-1",
    "title": "Outbound C2 beacon",
    "severity": "high",
    "source": "ids-1",
    "rule": "c2-beacon",
    "observables": {"src_ip": "10.0.0.5", "dest_ip": "203.0.113.10", "domain": "c2.example"},
    "techniques": ["T1071.001"],
}


async def test_alert_becomes_completed_incident_and_notifies(
    temporal_address: str, redis_server, webhook_sink: WebhookSink
) -> None:
    settings = make_settings(temporal_address, redis_server.url, XORB_NOTIFY_WEBHOOK_URLS=webhook_sink.url)
    async with service(settings) as svc:
        incident_id = await svc.send_alert(ALERT)
        incident = await svc.wait_for_incident(incident_id)

    assert incident["alert_count"] == 1
    assert incident["severity"] == "high"
    assert incident["techniques"] == ["T1071.001"]
    assert {(o["type"], o["value"]) for o in incident["observables"]} == {
        ("ip", "10.0.0.5"),
        ("ip", "203.0.113.10"),
        ("domain", "c2.example"),
    }
    assert incident["plan"]["steps"][0]["action"] == "notify.webhook"
    step = incident["steps"][0]
    assert step["status"] == "completed" and step["attempts"] == 1
    assert step["started_at"] and step["ended_at"] and step["error"] is None
    assert len(webhook_sink.received) == 1
    body = webhook_sink.received[0]["body"]
    assert "Outbound C2 beacon" in body["text"] and body["incident_id"] == incident_id
    assert webhook_sink.received[0]["headers"]["Idempotency-Key"] == f"{incident_id}/notify-1"
