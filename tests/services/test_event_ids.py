"""Event ids through the intake (issue 14): a re-delivery is the same event, not the same id of the sender.

- item 3: an OCSF finding's Update (no `metadata.uid`, only the finding's uid) is a new event of the finding, not a
  duplicate of its Create: it joins the incident and raises its severity, where lists filtered by severity find it.
- item 8: the same id on other content (Wazuh's sample generator gives every alert one id) is another alert, kept
  and counted in `reused_id_count`; the same id on the same content, though a shipper added its receive time, is a
  re-delivery and counts once.

Events are written in the shapes of Security Hub's OCSF mapping of GuardDuty and of Wazuh's alerts, with our values.
"""

from __future__ import annotations

import asyncio
import copy
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.support.stack import RedisServer, RunningService, make_settings, service

pytestmark = pytest.mark.timeout(60)

RUN = uuid.uuid4().hex[:10]
OPENED: set[str] = set()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(temporal_address: str, redis_server: RedisServer) -> AsyncIterator[RunningService]:
    settings = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=600)
    async with service(settings) as running:
        yield running
        for incident_id in sorted(OPENED):  # leave no incident half-done for later modules
            await running.wait_for_incident(incident_id)


async def post(svc: RunningService, source: str, event: dict[str, Any]) -> dict[str, Any]:
    response = await svc.http.post(f"/v1/alerts/{source}", json=event)
    assert response.status_code == 202, response.text
    (result,) = response.json()["results"]
    assert result["status"] == "accepted", result
    OPENED.add(result["incident_id"])
    return dict(result)


# --- item 3: a finding's update raises its incident's severity ------------------------------------------------


def guardduty(activity_id: int, severity_id: int, minutes: int) -> dict[str, Any]:
    """One event (1 Create, 2 Update) of one GuardDuty finding as Security Hub's OCSF mapping writes it."""
    labels = {2: "Low", 4: "High"}
    return {
        "activity_id": activity_id,
        "activity_name": {1: "Create", 2: "Update"}[activity_id],
        "category_uid": 2,
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "type_uid": 200400 + activity_id,
        "cloud": {"account": {"uid": "000011112222"}, "provider": "AWS", "region": "eu-west-1"},
        "evidences": [
            {"api": {"operation": "StopLogging"}, "src_endpoint": {"ip": "198.51.100.61"}},
        ],
        "finding_info": {
            "title": "AWS CloudTrail trail arn:aws:cloudtrail:eu-west-1:000011112222:trail/audit was disabled.",
            "types": [f"TTPs/Defense Evasion/Stealth:IAMUser-CloudTrailLoggingDisabled-{RUN}"],
            "uid": f"arn:aws:guardduty:eu-west-1:000011112222:detector/d0/finding/{RUN}",
        },
        "metadata": {"product": {"name": "GuardDuty", "vendor_name": "Amazon"}, "version": "1.1.0"},
        "observables": [{"name": "evidences[].src_endpoint.ip", "type_id": 2, "value": "198.51.100.61"}],
        "severity": labels[severity_id],
        "severity_id": severity_id,
        "status": "New",
        "time": 1765090800000 + minutes * 60_000,
    }


async def listed(svc: RunningService, severity: str, incident_id: str, timeout: float = 15) -> bool:
    """Whether the incident shows in the list filtered by `severity` (visibility catches up within a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        page = (await svc.http.get("/v1/incidents", params={"severity": severity, "page_size": 500})).json()
        if incident_id in {item["incident_id"] for item in page["items"]}:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.3)


async def test_guardduty_update_raises_the_severity_of_the_findings_incident(svc: RunningService) -> None:
    created = await post(svc, "ocsf", guardduty(1, 2, 0))
    incident_id = created["incident_id"]
    assert created["duplicate"] is False
    await svc.wait_for_view(incident_id, lambda v: v["plan"] is not None, timeout=15)
    assert await listed(svc, "low", incident_id)

    raised = await post(svc, "ocsf", guardduty(2, 4, 15))
    assert (raised["incident_id"], raised["duplicate"]) == (incident_id, False)
    view = await svc.wait_for_view(incident_id, lambda v: v["alert_count"] == 2, timeout=15)
    assert (view["severity"], view["severity_id"], view["reused_id_count"]) == ("high", 4, 0)
    assert await listed(svc, "high", incident_id)
    # The update delivered again is a re-delivery of that event.
    assert (await post(svc, "ocsf", guardduty(2, 4, 15)))["duplicate"] is True


# --- item 8: one id, other content ------------------------------------------------------------------------------


def wazuh(event_id: str, rule_id: str = "5716", user: str = "root", second: int = 0) -> dict[str, Any]:
    """A Wazuh alert as its sample generator writes them: the same `id` on every alert."""
    return {
        "timestamp": f"2026-12-07T09:58:{second:02d}.000+0000",
        "rule": {"level": 5, "description": f"sshd: authentication failed ({RUN})", "id": f"{rule_id}{RUN}"},
        "agent": {"id": "007", "name": f"web-{RUN}", "ip": "10.9.0.7"},
        "manager": {"name": "wazuh-manager"},
        "id": event_id,
        "decoder": {"name": "sshd"},
        "data": {"srcip": "198.51.100.23", "srcuser": user},
        "location": "/var/log/auth.log",
    }


async def test_one_id_on_other_content_is_another_alert_and_counted(svc: RunningService) -> None:
    one_id = f"1580123327.{RUN}"
    first = await post(svc, "wazuh", wazuh(one_id, user="root", second=1))
    second = await post(svc, "wazuh", wazuh(one_id, user="admin", second=2))
    assert (second["incident_id"], second["duplicate"]) == (first["incident_id"], False)
    # Sent again as a shipper forwards it (its receive time added): a re-delivery of the first, counted once.
    shipped = wazuh(one_id, user="root", second=1)
    shipped.update({"@timestamp": "2026-12-07T09:58:03.771Z", "event": {"ingested": "2026-12-07T09:58:04.002Z"}})
    assert (await post(svc, "wazuh", shipped))["duplicate"] is True
    view = await svc.wait_for_view(first["incident_id"], lambda v: v["alert_count"] == 2, timeout=15)
    assert view["reused_id_count"] == 1
    assert {("user", "root", "src"), ("user", "admin", "src")} <= {
        (o["type"], o["value"], o["role"]) for o in view["observables"]
    }


async def test_one_id_on_alerts_of_other_incidents_is_counted_where_it_came_again(svc: RunningService) -> None:
    one_id = f"1580123328.{RUN}"
    brute_force = await post(svc, "wazuh", wazuh(one_id, rule_id="5712"))
    session = await post(svc, "wazuh", copy.deepcopy(wazuh(one_id, rule_id="5501")))
    # Another rule, another incident: not filed under the first one's.
    assert session["incident_id"] != brute_force["incident_id"]
    assert session["duplicate"] is False
    first = await svc.wait_for_view(brute_force["incident_id"], lambda v: v["alert_count"] == 1, timeout=15)
    later = await svc.wait_for_view(session["incident_id"], lambda v: v["alert_count"] == 1, timeout=15)
    assert (first["reused_id_count"], later["reused_id_count"]) == (0, 1)
