"""POST /v1/plan/explain: the plan the response policy would make for an alert, and why; nothing is run."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from xorb_orchestrator.api.body import read_json
from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.api.errors import ApiError
from xorb_orchestrator.api.json_input import json_problem
from xorb_orchestrator.api.openapi import errors
from xorb_orchestrator.models.workflow_io import PlanInput
from xorb_orchestrator.sources import SOURCES, AlertFormatError, parse_event

router = APIRouter()


@router.post(
    "/plan/explain",
    summary="Explain the response to an alert: enrichment, the policy's decision and the plan (nothing is run)",
    responses=errors(400, 404, 413, 415, 422, 503),
)
async def explain(
    request: Request,
    source: str = Query("generic", description=f"the alert's format: {', '.join(SOURCES)}"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    if source not in SOURCES:
        raise ApiError(
            404, "unknown_source", f"no adapter for source {source[:40]!r}; expected one of {', '.join(SOURCES)}"
        )
    if svc.enricher is None or svc.planner is None:
        raise ApiError(503, "unavailable", "this API process cannot plan (no enricher configured)")
    event = await read_json(request, svc.settings.alert_max_bytes)
    problem = json_problem(event)
    if problem is not None:
        raise ApiError(422, "invalid_alert", f"alert rejected: {problem}")
    try:
        alert = parse_event(source, event)
    except AlertFormatError as exc:
        raise ApiError(422, "invalid_alert", f"alert rejected: {exc.path}: {exc.message}") from None
    except ValidationError as exc:
        raise ApiError(422, "invalid_alert", f"alert rejected: {exc.errors()[0]['msg']}") from None
    if alert is None:
        raise ApiError(422, "not_an_alert", f"this {source} event is not an alert (nothing would respond to it)")
    enrichment = await svc.enricher.enrich(alert.observables)
    plan = await svc.planner.plan(
        PlanInput(
            incident_id="incident-explain",
            title=alert.title,
            severity_id=int(alert.severity),
            observables=alert.observables,
            techniques=alert.techniques,
            enrichment=enrichment,
        )
    )
    return {
        "alert": {"title": alert.title, "source": alert.source, "observables": len(alert.observables)},
        "enrichment": enrichment.model_dump(mode="json"),
        "plan": plan.model_copy(update={"run": None}).model_dump(mode="json"),
    }
