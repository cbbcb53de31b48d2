"""The API's status of an incident agrees with Temporal's state of its workflow."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from tests.support.stack import RedisServer, make_settings, service
from xorb_orchestrator.models.incident import IncidentStatus, IncidentView
from xorb_orchestrator.services.incident_status import STALLED_AFTER_ATTEMPTS, ExecutionState, reconcile

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def view(status: IncidentStatus, error: str | None = None) -> IncidentView:
    return IncidentView(
        incident_id="incident-" + "a" * 24,
        correlation_key="a" * 24,
        status=status,
        severity="high",
        severity_id=4,
        title="t",
        source="s",
        first_seen=NOW,
        last_seen=NOW,
        created_at=NOW,
        updated_at=NOW,
        error=error,
        accepts_alerts_until=NOW,
    )


def test_a_running_workflow_leaves_the_view_as_it_is() -> None:
    running = ExecutionState(WorkflowExecutionStatus.RUNNING, task_attempts=1)
    for status in (IncidentStatus.OPEN, IncidentStatus.RUNNING, IncidentStatus.COMPLETED):
        assert reconcile(view(status), running) == view(status)


def test_a_workflow_whose_task_keeps_failing_reads_failed_as_stalled() -> None:
    stalled = ExecutionState(WorkflowExecutionStatus.RUNNING, task_attempts=STALLED_AFTER_ATTEMPTS)
    seen = reconcile(view(IncidentStatus.COMPLETED), stalled)
    assert seen.status is IncidentStatus.FAILED
    assert seen.error is not None and "stalled" in seen.error and f"{STALLED_AFTER_ATTEMPTS} times" in seen.error


def test_an_ended_workflow_reads_closed_or_failed_with_its_reason() -> None:
    done = ExecutionState(WorkflowExecutionStatus.COMPLETED, close_time=NOW)
    closed = reconcile(view(IncidentStatus.COMPLETED), done)
    assert closed.status is IncidentStatus.CLOSED and closed.closed_at == NOW
    assert reconcile(view(IncidentStatus.FAILED, "step x failed"), done).status is IncidentStatus.FAILED
    cases = {
        WorkflowExecutionStatus.FAILED: "the incident's workflow failed: boom",
        WorkflowExecutionStatus.TERMINATED: "the incident's workflow was terminated: boom",
        WorkflowExecutionStatus.TIMED_OUT: "the incident's workflow timed out: boom",
        WorkflowExecutionStatus.CANCELED: "the incident's workflow was cancelled: boom",
    }
    for status, error in cases.items():
        seen = reconcile(view(IncidentStatus.OPEN), ExecutionState(status, close_time=NOW, reason="boom"))
        assert (seen.status, seen.error, seen.closed_at, seen.accepts_alerts_until) == (
            IncidentStatus.FAILED,
            error,
            NOW,
            None,
        )


@pytest.mark.timeout(60)
async def test_a_terminated_incident_reads_failed_with_the_reason_in_reads_and_lists(
    temporal_address: str, temporal_client: Client, redis_server: RedisServer
) -> None:
    settings = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=3600)
    rule = "terminated-" + uuid.uuid4().hex[:8]
    alert = {"title": "Beacon", "severity": "high", "source": "status", "rule": rule, "observables": {"ip": "10.1.1.1"}}
    async with service(settings) as svc:
        incident_id = await svc.send_alert(alert)
        lingering = await svc.wait_for_incident(incident_id)
        assert lingering["status"] == "completed" and lingering["closed_at"] is None
        assert lingering["accepts_alerts_until"] > lingering["updated_at"][:19]  # the window is still open

        await temporal_client.get_workflow_handle(incident_id).terminate(reason="operator stopped it")
        # The cache still says `completed`; the read asks Temporal and says what happened.
        seen = (await svc.http.get(f"/v1/incidents/{incident_id}")).json()
        assert seen["status"] == "failed", seen
        assert seen["error"] == "the incident's workflow was terminated: operator stopped it"
        assert seen["closed_at"] is not None

        async def listed_as_failed() -> bool:
            page = (await svc.http.get("/v1/incidents", params={"status": "failed", "page_size": 500})).json()
            return incident_id in {item["incident_id"] for item in page["items"]}

        for _ in range(50):  # visibility catches up within a moment
            if await listed_as_failed():
                break
            await asyncio.sleep(0.1)
        assert await listed_as_failed()
