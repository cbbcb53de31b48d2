"""POST /v1/alerts/{source}: detectors' own formats, one event, an array, or NDJSON."""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from xorb_orchestrator.api.body import JSON_TYPES, NDJSON_TYPES, loads_line, parse_json, read_body
from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.api.errors import RETRY_AFTER_SECONDS, ApiError
from xorb_orchestrator.api.json_input import json_problem
from xorb_orchestrator.api.openapi import RETRY_AFTER, errors, request_body
from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.models.alert import Alert
from xorb_orchestrator.services.intake import Overloaded
from xorb_orchestrator.sources import SOURCES, AlertFormatError, parse_event

log = logging.getLogger(__name__)
router = APIRouter()
MAX_EVENTS = 10_000


class EventResult(BaseModel):
    """What became of one event, by its index in the request."""

    index: int
    status: Literal["accepted", "rejected", "ignored", "unavailable"]
    incident_id: str | None = None
    duplicate: bool | None = None
    error: str | None = None
    path: str | None = None
    reason: str | None = None


class BatchAnswer(BaseModel):
    """Counts by outcome and one result per event; `error` and `message` too when the status is 422 or 503."""

    accepted: int
    rejected: int
    ignored: int
    unavailable: int
    results: list[EventResult]
    error: str | None = None
    message: str | None = None


_EVENT = {"type": "object", "description": "one event in the source's own format"}
_BODY = request_body(
    {
        "application/json": {"anyOf": [_EVENT, {"type": "array", "items": _EVENT, "maxItems": MAX_EVENTS}]},
        "application/x-ndjson": {"type": "string", "description": "one JSON event a line"},
    }
)


def _events(media: str, raw: bytes) -> list[Any]:
    """The request's events in order. An NDJSON line that is not JSON becomes an error marker."""
    if media in NDJSON_TYPES:
        if media == "application/json-seq":
            # RFC 7464: each record starts with RS (0x1E) and may span several lines.
            unit, records = "record", [r for r in raw.split(b"\x1e") if r.strip()]
        else:
            unit, records = "line", raw.splitlines()
        events: list[Any] = []
        for number, record in enumerate(records, start=1):
            if record.strip():
                try:
                    events.append(loads_line(record))
                except ValueError as exc:
                    events.append(_BadLine(f"{unit} {number} is {exc}"))
        return events
    payload = parse_json(raw)
    return payload if isinstance(payload, list) else [payload]


class _BadLine:
    def __init__(self, message: str) -> None:
        self.message = message


@router.post(
    "/alerts/{source}",
    status_code=202,
    summary="Send alerts in a detector's own format (one JSON object, a JSON array, or NDJSON)",
    response_model=BatchAnswer,
    responses={
        202: {"description": "every event accepted, rejected or ignored; see results"},
        422: {"model": BatchAnswer, "description": "every event rejected"},
        503: {
            "model": BatchAnswer,
            "description": "Temporal could not take some events: send those again (Retry-After)",
            "headers": RETRY_AFTER,
        },
        **errors(400, 404, 413, 415, 429),
    },
    openapi_extra=_BODY,
)
async def post_source_alerts(source: str, request: Request, svc: Services = Depends(services)) -> JSONResponse:
    if source not in SOURCES:
        shown = source if len(source) <= 40 else source[:40] + "…"
        raise ApiError(404, "unknown_source", f"no adapter for source {shown!r}; expected one of {', '.join(SOURCES)}")
    media, raw = await read_body(request, svc.settings.alert_max_bytes, JSON_TYPES + NDJSON_TYPES)
    events = _events(media, raw)
    if len(events) > MAX_EVENTS:
        raise ApiError(413, "too_many_events", f"{len(events)} events in one request; send at most {MAX_EVENTS}")

    results: list[dict[str, Any]] = [{"index": i} for i in range(len(events))]
    alerts: list[tuple[int, Alert]] = []
    for index, event in enumerate(events):
        if isinstance(event, _BadLine):
            results[index].update(status="rejected", error=event.message, path="$")
            continue
        problem = json_problem(event)
        if problem is not None:
            results[index].update(status="rejected", error=str(problem), path=problem.path)
            continue
        try:
            alert = parse_event(source, event)
        except AlertFormatError as exc:
            results[index].update(status="rejected", error=exc.message, path=exc.path)
            continue
        except Exception:  # an adapter's bug costs its event, never the batch; the log keeps the traceback
            log.exception("the %s adapter failed on event %d", source, index)
            results[index].update(status="rejected", error="the adapter could not read this event", path="$")
            continue
        if alert is None:
            results[index].update(status="ignored", reason=f"not an alert event of {source}")
            metrics.ALERTS_IGNORED.labels(source).inc()
            continue
        alerts.append((index, alert))
    rejected = sum(1 for r in results if r.get("status") == "rejected")
    if rejected:
        metrics.ALERTS_REJECTED.labels("invalid").inc(rejected)

    try:
        outcomes = await svc.intake.submit([alert for _, alert in alerts])
    except Overloaded as exc:
        raise ApiError(429, "overloaded", str(exc), headers={"Retry-After": "1"}) from None
    for (index, _), outcome in zip(alerts, outcomes, strict=True):
        if outcome.status == "accepted":
            results[index].update(status="accepted", incident_id=outcome.incident_id, duplicate=outcome.duplicate)
        elif outcome.status == "rejected":
            results[index].update(status="rejected", error=outcome.error, path="$")
        else:
            results[index].update(status="unavailable", error=outcome.error)

    counts = {
        s: sum(1 for r in results if r["status"] == s) for s in ("accepted", "rejected", "ignored", "unavailable")
    }
    body: dict[str, Any] = {**counts, "results": results}
    # A 503 or 422 is still an error body ({error, message}) for clients that read only those.
    if counts["unavailable"]:
        body = {
            "error": "unavailable",
            "message": f"Temporal could not take {counts['unavailable']} of {len(events)} events; "
            "send those marked unavailable again",
            **body,
        }
        return JSONResponse(body, status_code=503, headers={"Retry-After": RETRY_AFTER_SECONDS})
    if events and counts["rejected"] == len(events):
        body = {"error": "invalid_alerts", "message": "every event was rejected; see results", **body}
        return JSONResponse(body, status_code=422)
    return JSONResponse(body, status_code=202)
