"""POST /v1/alerts: the generic JSON alert."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from xorb_orchestrator.api.body import read_json
from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.api.errors import RETRY_AFTER_SECONDS, ApiError, field_errors
from xorb_orchestrator.api.json_input import json_problem
from xorb_orchestrator.api.openapi import errors, request_body
from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.services.intake import Overloaded
from xorb_orchestrator.sources.generic_alert import GenericAlert

router = APIRouter()
_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


class AlertAccepted(BaseModel):
    incident_id: str
    duplicate: bool


@router.post(
    "/alerts",
    status_code=202,
    summary="Send one alert in the generic JSON format",
    response_model=AlertAccepted,
    responses={
        202: {"description": "Temporal holds the alert: it is in the incident named"},
        **errors(400, 413, 415, 422, 429, 503),
    },
    openapi_extra=request_body({"application/json": GenericAlert.model_json_schema()}),
)
async def post_alert(request: Request, svc: Services = Depends(services)) -> JSONResponse:
    payload: Any = await read_json(request, svc.settings.alert_max_bytes)
    if not isinstance(payload, dict):
        metrics.ALERTS_REJECTED.labels("invalid").inc()
        got = _JSON_KINDS.get(type(payload), "a JSON value")
        raise ApiError(
            422,
            "invalid_alert",
            f"an alert must be a JSON object, got {got}",
            fields=[{"field": "body", "message": f"expected a JSON object, got {got}"}],
        )
    problem = json_problem(payload)
    if problem is not None:
        metrics.ALERTS_REJECTED.labels("invalid").inc()
        fields = [{"field": problem.path, "message": problem.message}]
        raise ApiError(422, "invalid_alert", f"alert rejected: {problem}", fields=fields)
    try:
        alert = GenericAlert.model_validate(payload).to_alert()
    except (ValidationError, ValueError) as exc:
        metrics.ALERTS_REJECTED.labels("invalid").inc()
        fields = field_errors(exc) if isinstance(exc, ValidationError) else [{"field": "body", "message": str(exc)}]
        names = ", ".join(f["field"] for f in fields)
        raise ApiError(422, "invalid_alert", f"alert rejected: invalid {names}", fields=fields) from None
    try:
        (outcome,) = await svc.intake.submit([alert])
    except Overloaded as exc:
        raise ApiError(429, "overloaded", str(exc), headers={"Retry-After": "1"}) from None
    if outcome.status == "rejected":
        raise ApiError(422, "invalid_alert", f"alert rejected: {outcome.error}")
    if outcome.status != "accepted":
        # Not accepted means not kept: the sender must retry, and we say when.
        raise ApiError(
            503,
            "unavailable",
            f"{outcome.error}; the alert was not accepted, retry later",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    return JSONResponse({"incident_id": outcome.incident_id, "duplicate": outcome.duplicate}, status_code=202)
