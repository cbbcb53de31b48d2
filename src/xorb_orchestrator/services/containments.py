"""The containment ledger, for the API and the CLI: every timed containment (a ContainmentWorkflow), open or
ended, with its receipts, end, state and undo; releasing one now, or moving its end."""

from __future__ import annotations

import asyncio

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.models.containment import ContainmentSummary, ExtendRequest, ReleaseRequest
from xorb_orchestrator.models.workflow_names import CONTAINMENT_WORKFLOW
from xorb_orchestrator.workflows.containment import ContainmentWorkflow

MAX_LISTED = 500
_ID_PREFIX = "containment-"


class NotFound(Exception):
    pass


class NotActive(Exception):
    """The containment has ended (released, expired or failed): nothing to release or extend."""


async def list_containments(client: Client, settings: Settings, *, open_only: bool = True) -> list[ContainmentSummary]:
    """The deployment's containments, the soonest end first (ended ones after, most recent first)."""
    try:
        executions = [e async for e in client.list_workflows(_query(settings, open_only), limit=MAX_LISTED)]
        found = await asyncio.gather(*(_summary(client, e.id, e.status) for e in executions))
    except RPCError as exc:
        raise TemporalUnavailable(f"Temporal is unavailable: {exc.message}") from None
    summaries = [summary for summary in found if summary is not None]
    active = sorted((s for s in summaries if s.status == "active"), key=lambda s: s.until)
    ended = sorted((s for s in summaries if s.status != "active"), key=lambda s: s.released_at or s.until, reverse=True)
    return active + ended


async def count_open(client: Client, settings: Settings) -> int:
    """How many containments are in place now (for the metrics)."""
    return (await client.count_workflows(_query(settings))).count


async def release_all(client: Client, settings: Settings, request: ReleaseRequest) -> list[str]:
    """Release every open containment of this deployment now (their undo runs: the kill switch's rollback); the
    workflow ids released. One that ended meanwhile (its time was up) needs no release and is left out."""
    try:
        ids = [
            execution.id
            async for execution in client.list_workflows(_query(settings), limit=MAX_LISTED)
            if execution.status == WorkflowExecutionStatus.RUNNING
        ]
    except RPCError as exc:
        raise TemporalUnavailable(f"Temporal is unavailable: {exc.message}") from None
    sent = await asyncio.gather(
        *(client.get_workflow_handle(workflow_id).signal(ContainmentWorkflow.release, request) for workflow_id in ids),
        return_exceptions=True,
    )
    return [
        workflow_id for workflow_id, outcome in zip(ids, sent, strict=True) if not isinstance(outcome, BaseException)
    ]


async def get(client: Client, workflow_id: str) -> ContainmentSummary:
    _check_id(workflow_id)
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
        summary = await _summary(client, workflow_id, description.status)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise NotFound(f"no containment {workflow_id!r}") from None
        raise TemporalUnavailable(f"Temporal is unavailable: {exc.message}") from None
    if summary is None:
        raise NotFound(f"containment {workflow_id!r} cannot be read (it did not end well: see its history)")
    return summary


async def release(client: Client, workflow_id: str, request: ReleaseRequest) -> ContainmentSummary:
    """Release it now: its undo runs (the answer is its state right after the release was sent)."""
    summary = await get(client, workflow_id)
    if summary.status != "active":
        raise NotActive(f"containment {workflow_id} has already ended ({summary.status})")
    try:
        await client.get_workflow_handle(workflow_id).signal(ContainmentWorkflow.release, request)
    except RPCError as exc:
        raise TemporalUnavailable(f"Temporal is unavailable: {exc.message}") from None
    return await _settled(client, workflow_id)


async def extend(client: Client, workflow_id: str, request: ExtendRequest) -> ContainmentSummary:
    _check_id(workflow_id)
    try:
        return await client.get_workflow_handle(workflow_id).execute_update(ContainmentWorkflow.extend, request)
    except WorkflowUpdateFailedError as exc:
        raise NotActive(str(exc.cause or exc)) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND or "already completed" in exc.message:
            raise NotActive(f"containment {workflow_id} has already ended") from None
        raise TemporalUnavailable(f"Temporal is unavailable: {exc.message}") from None


async def _settled(client: Client, workflow_id: str, wait: float = 10.0) -> ContainmentSummary:
    """Its result once its undo ran (within `wait` seconds), else its state now."""
    handle = client.get_workflow_handle(workflow_id, result_type=ContainmentSummary)
    try:
        return await asyncio.wait_for(handle.result(), wait)
    except TimeoutError:
        return await get(client, workflow_id)


async def _summary(
    client: Client, workflow_id: str, status: WorkflowExecutionStatus | None
) -> ContainmentSummary | None:
    handle = client.get_workflow_handle(workflow_id, result_type=ContainmentSummary)
    if status == WorkflowExecutionStatus.RUNNING:
        try:
            return await handle.query(ContainmentWorkflow.state)
        except RPCError:
            return None  # no worker answers right now
    if status == WorkflowExecutionStatus.COMPLETED:
        return await handle.result()
    return None  # failed, terminated, timed out: its history says why


def _check_id(workflow_id: str) -> None:
    if not workflow_id.startswith(_ID_PREFIX) or len(workflow_id) > 300 or "'" in workflow_id:
        raise NotFound(f"no containment {workflow_id!r} (containment ids start with {_ID_PREFIX!r})")


def _query(settings: Settings, open_only: bool = True) -> str:
    """This deployment's containments (its task queue), the open ones by default: a visibility query."""
    queue = settings.temporal_task_queue.replace("'", "")
    running = " AND ExecutionStatus = 'Running'" if open_only else ""
    return f"WorkflowType = '{CONTAINMENT_WORKFLOW}' AND TaskQueue = '{queue}'{running}"
