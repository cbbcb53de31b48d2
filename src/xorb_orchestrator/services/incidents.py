"""Reading incidents: from the Redis cache when it has them, else from Temporal; the status always agrees with
Temporal's state of the incident's workflow (incident_status.reconcile)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.models.incident import IncidentStatus, IncidentView
from xorb_orchestrator.models.run_records import RunStatus
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.services.incident_client import (
    IncidentNotFound,
    execution_state,
    list_incident_states,
    query_incident,
)
from xorb_orchestrator.services.incident_status import ExecutionState, awaiting_approval, reconcile
from xorb_orchestrator.services.playbook_client import run_state

INCIDENT_ID = re.compile(r"^incident-[0-9a-f]{24}(-\d{8}T\d{6})?$")
# A cached view of an unfinished incident older than this is re-read from Temporal, in case an
# update was missed while Redis was away.
STALE_AFTER = timedelta(seconds=30)
_UNDER_WAY = (RunStatus.PENDING, RunStatus.RUNNING)  # the run may have started since the view was written


class BadRequest(ValueError):
    """A query parameter is wrong; the message names it."""


@dataclass
class IncidentPage:
    items: list[IncidentView]
    next_page_token: str | None


def _cache_answers(cached: IncidentView, state: ExecutionState) -> bool:
    """Whether the cached view may stand for the incident: recent (or finished), and not outlived by its workflow.
    A workflow that ended while its last cache write was lost (Redis slow or away at that moment) has a final view
    only Temporal holds: the cached steps would still read running."""
    if cached.status.finished:
        return True
    ended = state.status is not WorkflowExecutionStatus.RUNNING
    return not ended and datetime.now(UTC) - cached.updated_at < STALE_AFTER


async def get_incident(client: Client, cache: IncidentCache, incident_id: str) -> IncidentView:
    if not INCIDENT_ID.match(incident_id):
        raise IncidentNotFound(incident_id)
    cached = (await cache.get_many([incident_id])).get(incident_id)
    if cached is not None and cached.closed_at is not None:
        return cached  # the workflow's last word, written as it closed
    state = await execution_state(client, incident_id)
    usable = cached is not None and _cache_answers(cached, state)
    view = cached if usable and cached is not None else await _query_or(client, incident_id, cached)
    return awaiting_approval(await with_live_playbook(client, reconcile(view, state)))


async def _query_or(client: Client, incident_id: str, cached: IncidentView | None) -> IncidentView:
    """The workflow's own view; the cached one when the workflow cannot answer (no worker, say)."""
    try:
        return await query_incident(client, incident_id)
    except (TemporalUnavailable, RPCError):
        if cached is None:
            raise
        return cached


async def with_live_playbook(client: Client, view: IncidentView) -> IncidentView:
    """While its playbook runs, the incident shows the run's live progress (steps, pending approvals), read
    from the run itself: the incident records the run's steps only when it ends."""
    run = view.playbook_run
    if view.status.finished or run is None or run.workflow_id is None or run.status not in _UNDER_WAY:
        return view
    live = await run_state(client, run.workflow_id)
    if live is not None:
        view.playbook_run = live
    return view


def visibility_query(
    status: str | None,
    severity: str | None,
    task_queue: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> str:
    """Build the list filter from validated values only (never raw user text in the query)."""
    clauses = ["WorkflowType = 'IncidentWorkflow'"]
    # An incident's workflow starts with its first alert: the time range is on that start.
    for op, moment in ((">=", since), ("<", until)):
        if moment is not None:
            utc = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
            clauses.append(f"StartTime {op} '{utc.year:04d}{utc.strftime('-%m-%dT%H:%M:%S.%fZ')}'")
    if task_queue:  # this deployment's incidents only (queue names come from settings, not requests)
        clauses.append(f"TaskQueue = '{task_queue}'")
    if status is not None:
        try:
            clauses.append(_status_clause(IncidentStatus(status.lower())))
        except ValueError:
            allowed = "|".join(s.value for s in IncidentStatus)
            raise BadRequest(f"status: expected one of {allowed}, got {status!r}") from None
    if severity is not None:
        try:
            clauses.append(f"XorbSeverity = '{Severity.parse(severity).label}'")
        except ValueError as exc:
            raise BadRequest(f"severity: {exc}") from None
    return " AND ".join(clauses)


def _status_clause(status: IncidentStatus) -> str:
    """The visibility filter of a status, with Temporal's execution status where the workflow cannot say it."""
    if status is IncidentStatus.FAILED:  # its response failed, or its workflow did (it could not say so itself)
        return "(XorbStatus = 'failed' OR ExecutionStatus IN ('Failed', 'Terminated', 'TimedOut', 'Canceled'))"
    if status is IncidentStatus.CLOSED:
        return "XorbStatus = 'closed' AND ExecutionStatus = 'Completed'"
    # Awaiting approval is a running incident whose run waits (read live, filtered after).
    recorded = IncidentStatus.RUNNING if status is IncidentStatus.AWAITING_APPROVAL else status
    return f"XorbStatus = '{recorded.value}' AND ExecutionStatus = 'Running'"


def _decode_token(token: str | None) -> bytes | None:
    if not token:
        return None
    try:
        return base64.b64decode(token.encode() + b"=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("page_token: not a token this API issued") from None


async def list_incidents(
    client: Client,
    cache: IncidentCache,
    *,
    status: str | None = None,
    severity: str | None = None,
    page_size: int = 50,
    page_token: str | None = None,
    task_queue: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> IncidentPage:
    """Newest first, filtered by status, severity and start time, one page at a time."""
    if not 1 <= page_size <= 500:
        raise BadRequest(f"page_size: expected 1-500, got {page_size}")
    for name, moment in (("since", since), ("until", until)):
        # What Temporal's visibility store compares, with a margin for any UTC offset.
        if moment is not None and not 1970 < moment.year < 9999:
            raise BadRequest(f"{name}: expected a time after 1970 and before 9999")
    if since is not None and until is not None and since >= until:
        raise BadRequest("since: must be before until")
    query = visibility_query(status, severity, task_queue, since, until)
    try:
        states, next_token = await list_incident_states(client, query, page_size, _decode_token(page_token))
    except RPCError as exc:
        if exc.status == RPCStatusCode.INVALID_ARGUMENT and page_token:
            raise BadRequest("page_token: not a token this API issued") from None
        raise
    ids = list(states)
    cached = await cache.get_many(ids)

    async def view_of(incident_id: str) -> IncidentView | None:
        hit = cached.get(incident_id)
        if hit is not None and hit.closed_at is not None:
            return hit
        view = hit
        if hit is None or not _cache_answers(hit, states[incident_id]):
            try:
                view = await query_incident(client, incident_id)
            except (IncidentNotFound, TemporalUnavailable, RPCError):
                # One unreadable incident (say, no worker to answer its query) must not sink the page.
                view = hit
        if view is None:
            return None
        try:
            view = await with_live_playbook(client, reconcile(view, states[incident_id]))
        except (TemporalUnavailable, RPCError):
            view = reconcile(view, states[incident_id])
        return awaiting_approval(view)

    views = [v for v in await asyncio.gather(*(view_of(i) for i in ids)) if v is not None]
    if status is not None and status.lower() == IncidentStatus.AWAITING_APPROVAL:
        views = [v for v in views if v.status is IncidentStatus.AWAITING_APPROVAL]
    views.sort(key=lambda v: v.created_at, reverse=True)
    token = base64.urlsafe_b64encode(next_token).decode().rstrip("=") if next_token else None
    return IncidentPage(items=views, next_page_token=token)
