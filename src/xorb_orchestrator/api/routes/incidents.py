"""GET /v1/incidents and /v1/incidents/{id}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.api.errors import ApiError
from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.models.incident import IncidentView
from xorb_orchestrator.services.incident_client import IncidentNotFound
from xorb_orchestrator.services.incidents import BadRequest, get_incident, list_incidents

router = APIRouter()


def _unavailable(exc: Exception) -> ApiError:
    return ApiError(503, "unavailable", str(exc), headers={"Retry-After": "5"})


@router.get("/incidents", summary="Incidents, newest first")
async def get_incidents(
    status: str | None = Query(None, description="open|waiting|running|awaiting_approval|completed|failed|closed"),
    severity: str | None = Query(None, description="informational|low|medium|high|critical or 0-6"),
    page_size: int = Query(50, description="1-500"),
    page_token: str | None = Query(None),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    try:
        page = await list_incidents(
            svc.client,
            svc.cache,
            status=status,
            severity=severity,
            page_size=page_size,
            page_token=page_token,
            task_queue=svc.settings.temporal_task_queue,
        )
    except BadRequest as exc:
        field, _, problem = str(exc).partition(": ")
        raise ApiError(
            400, "invalid_query", str(exc), fields=[{"field": field, "message": problem or str(exc)}]
        ) from None
    except TemporalUnavailable as exc:
        raise _unavailable(exc) from None
    return {
        "items": [view.model_dump(mode="json") for view in page.items],
        "next_page_token": page.next_page_token,
    }


@router.get("/incidents/{incident_id}", summary="One incident with its plan and steps")
async def get_one_incident(incident_id: str, svc: Services = Depends(services)) -> IncidentView:
    try:
        return await get_incident(svc.client, svc.cache, incident_id)
    except IncidentNotFound:
        raise ApiError(404, "not_found", f"no incident {incident_id!r}") from None
    except TemporalUnavailable as exc:
        raise _unavailable(exc) from None
