"""Unauthenticated operational endpoints: /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.services.containments import count_open
from xorb_orchestrator.services.incident_client import query_slots

router = APIRouter()


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


class Readiness(BaseModel):
    """`ready` (200): everything answers. `degraded` (200): Temporal answers, Redis does not; the API still serves
    (intake and reads go to Temporal). `not_ready` (503): Temporal does not answer; nothing can be accepted."""

    status: Literal["ready", "degraded", "not_ready"]
    temporal: Literal["up", "down"]
    redis: Literal["up", "down"]


@router.get(
    "/readyz",
    summary="Whether the API can serve: Temporal reachable (Redis down only degrades it)",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Temporal is unreachable"}},
)
async def readyz(svc: Services = Depends(services)) -> JSONResponse:
    temporal_up, redis_up = await asyncio.gather(_temporal_ok(svc), svc.cache.ping())
    status = "not_ready" if not temporal_up else "ready" if redis_up else "degraded"
    body = Readiness(status=status, temporal=_state(temporal_up), redis=_state(redis_up))
    return JSONResponse(body.model_dump(), status_code=503 if status == "not_ready" else 200)


def _state(up: bool) -> Literal["up", "down"]:
    return "up" if up else "down"


async def _temporal_ok(svc: Services) -> bool:
    try:
        return bool(await asyncio.wait_for(svc.client.service_client.check_health(), timeout=3))
    except Exception:  # any failure to answer means not ready; the reason is not the prober's business
        return False


@router.get(
    "/metrics",
    summary="Prometheus metrics (service and Temporal SDK)",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def prometheus_metrics(svc: Services = Depends(services)) -> Response:
    try:
        slots = await asyncio.wait_for(query_slots(svc.client, svc.settings.temporal_task_queue), timeout=2)
        if slots is not None:
            metrics.INCIDENTS_WAITING.set(len(slots.waiting))
            metrics.INCIDENTS_HOLDING.set(len(slots.holders))
    except Exception:  # the coordinator's numbers are one gauge; the rest of the scrape still matters
        pass
    with contextlib.suppress(Exception):  # likewise the containments in place
        open_now = await asyncio.wait_for(count_open(svc.client, svc.settings), timeout=2)
        metrics.CONTAINMENTS_OPEN.set(open_now)
    body, content_type = await asyncio.to_thread(metrics.render_metrics, svc.sdk_metrics_url)
    return Response(body, media_type=content_type)
