"""GET /v1/incidents and /v1/incidents/{id}."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.api.errors import RETRY_AFTER_SECONDS, ApiError
from xorb_orchestrator.api.openapi import errors
from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.models.incident import IncidentView
from xorb_orchestrator.services.incident_client import IncidentNotFound
from xorb_orchestrator.services.incident_search import IncidentFilter, search_incidents
from xorb_orchestrator.services.incidents import BadRequest, get_incident

router = APIRouter()


class IncidentPage(BaseModel):
    items: list[IncidentView]
    next_page_token: str | None
    scanned: int = Field(
        0, description="With source/observable/q: how many incidents were looked at (at most 1,000 a request)."
    )


def _unavailable(message: str) -> ApiError:
    return ApiError(503, "unavailable", message, headers={"Retry-After": RETRY_AFTER_SECONDS})


def _bad_query(field: str, problem: str) -> ApiError:
    return ApiError(400, "invalid_query", f"{field}: {problem}", fields=[{"field": field, "message": problem}])


@router.get(
    "/incidents",
    summary="Incidents, newest first",
    responses={200: {"model": IncidentPage}, **errors(400, 503)},
)
async def get_incidents(
    status: str | None = Query(None, description="open|waiting|running|awaiting_approval|completed|failed|closed"),
    severity: str | None = Query(None, description="informational|low|medium|high|critical or 0-6"),
    since: datetime | None = Query(None, description="first alert at or after (ISO 8601; UTC without offset)"),
    until: datetime | None = Query(None, description="first alert before"),
    source: str | None = Query(None, description="the detector's source name, exactly (any case)"),
    observable: str | None = Query(None, description="an observable's value, or part of it"),
    q: str | None = Query(None, description="text in the title, rule, id, source, observables or techniques"),
    page_size: int = Query(50, description="1-500"),
    page_token: str | None = Query(None),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Status, severity and time are answered by Temporal's index; source, observable and q are matched on the
    newest incidents, at most 1,000 a request (`scanned`; `next_page_token` goes on), so a page may hold a few
    more than `page_size`, or none with a token to continue."""
    try:
        page = await search_incidents(
            svc.client,
            svc.cache,
            IncidentFilter(status, severity, since, until, source, observable, q),
            page_size=page_size,
            page_token=page_token,
            task_queue=svc.settings.temporal_task_queue,
        )
    except BadRequest as exc:
        field, _, problem = str(exc).partition(": ")
        raise _bad_query(field, problem or str(exc)) from None
    except TemporalUnavailable as exc:
        raise _unavailable(str(exc)) from None
    except RPCError as exc:
        # Temporal answers a token it did not issue with an error of its own choosing (UNKNOWN on the dev server),
        # not INVALID_ARGUMENT: with a token in the request, the token is what is wrong.
        if page_token:
            raise _bad_query("page_token", "not a token this API issued") from None
        raise _unavailable(f"Temporal could not list incidents: {exc.message}; retry later") from None
    return {
        "items": [view.model_dump(mode="json") for view in page.items],
        "next_page_token": page.next_page_token,
        "scanned": page.scanned,
    }


@router.get(
    "/incidents/{incident_id}",
    summary="One incident with its plan and steps",
    responses=errors(404, 503),
)
async def get_one_incident(incident_id: str, svc: Services = Depends(services)) -> IncidentView:
    """The cached view when the workflow cannot be asked (no worker, a query timed out); 503 with Retry-After
    when there is none either."""
    try:
        return await get_incident(svc.client, svc.cache, incident_id)
    except IncidentNotFound:
        shown = incident_id if len(incident_id) <= 80 else incident_id[:80] + "…"
        raise ApiError(404, "not_found", f"no incident {shown!r}") from None
    except TemporalUnavailable as exc:
        raise _unavailable(f"{exc}; retry later") from None
    except (RPCError, WorkflowQueryFailedError) as exc:
        # No worker polled the incident's task queue in time (RPC cancelled or timed out), or the workflow could
        # not answer its query: the incident is safe in Temporal, only unreadable for now.
        message = exc.message if isinstance(exc, RPCError) else str(exc)
        raise _unavailable(f"no worker answered for incident {incident_id!r} ({message}); retry later") from None
