"""Temporal calls about incidents: deliver an alert, read an incident, list incidents, read the slots."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHistoryEventFilterType,
    WorkflowQueryRejectedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.models.alert import AlertEnvelope
from xorb_orchestrator.models.ids import slot_coordinator_id
from xorb_orchestrator.models.incident import IncidentView
from xorb_orchestrator.models.workflow_io import IncidentInput, SlotCoordinatorView
from xorb_orchestrator.models.workflow_names import ADD_ALERTS
from xorb_orchestrator.services.incident_status import ExecutionState
from xorb_orchestrator.workflows.incident.workflow import IncidentWorkflow
from xorb_orchestrator.workflows.response_slots import ResponseSlotsWorkflow

RPC_TIMEOUT = timedelta(seconds=5)
_UNAVAILABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}


class IncidentNotFound(Exception):
    pass


def _unavailable(exc: RPCError) -> TemporalUnavailable:
    return TemporalUnavailable(f"Temporal is unavailable: {exc.message}")


class IncidentClosed(Exception):
    """The incident this id names has closed; the alert belongs to a new one."""


async def deliver_alerts(
    client: Client, task_queue: str, incident: IncidentInput, envelopes: list[AlertEnvelope]
) -> None:
    """Signal-with-start: returns once Temporal has durably recorded the alerts on the incident.

    With a correlation window the id names one window's incident and is never reused once it
    closed (IncidentClosed); without one, a closed incident's id starts a new run.
    """
    reuse = (
        WorkflowIDReusePolicy.REJECT_DUPLICATE
        if incident.close_not_before is not None
        else WorkflowIDReusePolicy.ALLOW_DUPLICATE
    )
    try:
        await client.start_workflow(
            IncidentWorkflow.run,
            incident,
            id=incident.incident_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=reuse,
            start_signal=ADD_ALERTS,
            start_signal_args=[envelopes],
            rpc_timeout=RPC_TIMEOUT,
        )
    except WorkflowAlreadyStartedError:
        raise IncidentClosed(incident.incident_id) from None
    except RPCError as exc:
        if exc.status in _UNAVAILABLE or "exceeded workflow execution limit" in exc.message:
            # A full incident (Temporal's per-run signal cap) is a pause, not a loss: the sender retries.
            raise _unavailable(exc) from None
        raise


async def deliver_alert(client: Client, task_queue: str, incident: IncidentInput, envelope: AlertEnvelope) -> None:
    await deliver_alerts(client, task_queue, incident, [envelope])


async def query_incident(client: Client, incident_id: str) -> IncidentView:
    try:
        view = await client.get_workflow_handle(incident_id).query(IncidentWorkflow.state, rpc_timeout=RPC_TIMEOUT)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise IncidentNotFound(incident_id) from None
        if exc.status in _UNAVAILABLE:
            raise _unavailable(exc) from None
        raise
    except WorkflowQueryRejectedError:
        raise IncidentNotFound(incident_id) from None
    if view is None:
        raise IncidentNotFound(incident_id)
    return view


async def execution_state(client: Client, incident_id: str) -> ExecutionState:
    """Temporal's state of the incident's workflow, with why it ended when it ended badly."""
    handle = client.get_workflow_handle(incident_id)
    try:
        description = await handle.describe(rpc_timeout=RPC_TIMEOUT)
        status = description.status or WorkflowExecutionStatus.RUNNING
        pending = description.raw_description.pending_workflow_task
        attempts = pending.attempt if description.raw_description.HasField("pending_workflow_task") else 0
        reason = None
        if status not in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.COMPLETED):
            reason = await _close_reason(client, incident_id)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise IncidentNotFound(incident_id) from None
        if exc.status in _UNAVAILABLE:
            raise _unavailable(exc) from None
        raise
    return ExecutionState(status, description.close_time, reason, attempts)


async def _close_reason(client: Client, incident_id: str) -> str | None:
    """The failure message or termination reason of the workflow's closing event."""
    events = client.get_workflow_handle(incident_id).fetch_history_events(
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT, rpc_timeout=RPC_TIMEOUT
    )
    async for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
            # Through the converter: with XORB_PAYLOAD_KEYS the message is encrypted (encoded attributes).
            failure = await client.data_converter.decode_failure(
                event.workflow_execution_failed_event_attributes.failure
            )
            return str(failure) or None
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
            return event.workflow_execution_terminated_event_attributes.reason or None
    return None


async def list_incident_states(
    client: Client, query: str, page_size: int, page_token: bytes | None
) -> tuple[dict[str, ExecutionState], bytes | None]:
    """One page of incidents matching a visibility query: each id with Temporal's state of it (no reasons)."""
    try:
        pages = client.list_workflows(query, page_size=page_size, next_page_token=page_token, rpc_timeout=RPC_TIMEOUT)
        await pages.fetch_next_page(page_size=page_size)
    except RPCError as exc:
        if exc.status in _UNAVAILABLE:
            raise _unavailable(exc) from None
        raise
    running = WorkflowExecutionStatus.RUNNING
    states = {e.id: ExecutionState(e.status or running, e.close_time) for e in pages.current_page or []}
    return states, pages.next_page_token or None


async def query_slots(client: Client, task_queue: str) -> SlotCoordinatorView | None:
    """The coordinator's state, or None when it has not started yet."""
    try:
        return await client.get_workflow_handle(slot_coordinator_id(task_queue)).query(
            ResponseSlotsWorkflow.state, rpc_timeout=timedelta(seconds=2)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
