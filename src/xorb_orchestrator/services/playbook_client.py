"""Temporal calls about playbook runs: start one, wait for a dry run, read runs' state, send an approval."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.models.playbook_run import (
    ApprovalDecision,
    ApprovalReceipt,
    PlaybookRunInput,
    PlaybookRunResult,
    PlaybookRunState,
)
from xorb_orchestrator.workflows.playbook.workflow import PlaybookWorkflow

RPC_TIMEOUT = timedelta(seconds=5)
# Listing running runs is for people (GET /v1/approvals): a bounded page, not a full scan.
MAX_RUNS_LISTED = 500
_UNAVAILABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}
# What may appear inside a visibility query's quoted value: ids and queue names we built, never raw text.
_SAFE = re.compile(r"^[A-Za-z0-9._:/-]+$")


class RunAlreadyExists(Exception):
    """A run with this workflow id exists already (duplicates are refused by id)."""


class DryRunTimeout(Exception):
    """The dry run did not finish in time; it was terminated."""


class ApprovalRejected(Exception):
    """The run's Update validator refused the decision; the message is its sentence."""


def _unavailable(exc: RPCError) -> TemporalUnavailable:
    return TemporalUnavailable(f"Temporal is unavailable: {exc.message}")


async def start_run(
    client: Client, task_queue: str, request: PlaybookRunInput, workflow_id: str
) -> WorkflowHandle[PlaybookWorkflow, PlaybookRunResult]:
    """Start a PlaybookWorkflow; an id used before (running or closed) is refused: RunAlreadyExists."""
    try:
        return await client.start_workflow(
            PlaybookWorkflow.run,
            request,
            id=workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            rpc_timeout=RPC_TIMEOUT,
        )
    except WorkflowAlreadyStartedError:
        raise RunAlreadyExists(workflow_id) from None
    except RPCError as exc:
        if exc.status in _UNAVAILABLE:
            raise _unavailable(exc) from None
        raise


async def run_to_end(
    client: Client, task_queue: str, request: PlaybookRunInput, workflow_id: str, timeout: float
) -> PlaybookRunResult:
    """Start a run and wait for its result; past `timeout` seconds the run is terminated (DryRunTimeout)."""
    handle = await start_run(client, task_queue, request, workflow_id)
    try:
        return await asyncio.wait_for(handle.result(), timeout)
    except TimeoutError:
        with contextlib.suppress(RPCError):  # it may have ended meanwhile; either way nothing more will run
            await handle.terminate(reason=f"dry run took longer than {timeout:g}s", rpc_timeout=RPC_TIMEOUT)
        raise DryRunTimeout(workflow_id) from None


async def running_runs(client: Client, task_queue: str, id_prefix: str | None = None) -> list[str]:
    """Workflow ids of the running PlaybookWorkflows on this task queue (optionally with an id prefix)."""
    clauses = ["WorkflowType = 'PlaybookWorkflow'", "ExecutionStatus = 'Running'", f"TaskQueue = '{_safe(task_queue)}'"]
    if id_prefix is not None:
        clauses.append(f"WorkflowId STARTS_WITH '{_safe(id_prefix)}'")
    try:
        ids = []
        async for execution in client.list_workflows(" AND ".join(clauses), limit=MAX_RUNS_LISTED):
            if execution.status == WorkflowExecutionStatus.RUNNING:
                ids.append(execution.id)
        return ids
    except RPCError as exc:
        if exc.status in _UNAVAILABLE:
            raise _unavailable(exc) from None
        raise


async def run_state(client: Client, workflow_id: str) -> PlaybookRunState | None:
    """The `state` query of a run, or None when it is gone or cannot answer (no worker, just closed)."""
    try:
        return await client.get_workflow_handle(workflow_id).query(PlaybookWorkflow.state, rpc_timeout=RPC_TIMEOUT)
    except (WorkflowQueryRejectedError, WorkflowQueryFailedError):
        return None
    except RPCError as exc:
        # A query times out when no worker picks it up (a crashed worker's sticky queue, or none running):
        # the run cannot answer, Temporal itself is fine.
        if exc.status in _UNAVAILABLE and exc.status is not RPCStatusCode.DEADLINE_EXCEEDED:
            raise _unavailable(exc) from None
        return None


async def send_approval(client: Client, workflow_id: str, decision: ApprovalDecision) -> ApprovalReceipt:
    """Send the `approve` Update; ApprovalRejected with the validator's sentence when it refuses."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        return await handle.execute_update(PlaybookWorkflow.approve, decision, rpc_timeout=timedelta(seconds=15))
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        raise ApprovalRejected(getattr(cause, "message", None) or str(cause or exc)) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApprovalRejected("the playbook run has ended") from None
        if exc.status in _UNAVAILABLE:
            raise _unavailable(exc) from None
        raise


def _safe(value: str) -> str:
    if not _SAFE.match(value):
        raise ValueError(f"{value!r} cannot be used in a visibility query")
    return value
