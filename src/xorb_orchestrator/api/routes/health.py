"""Unauthenticated operational endpoints: /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response

from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.services.incident_client import query_slots

router = APIRouter()


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Temporal and Redis are reachable")
async def readyz(svc: Services = Depends(services)) -> JSONResponse:
    temporal_ok = await _temporal_ok(svc)
    redis_ok = await svc.cache.ping()
    ready = temporal_ok and redis_ok
    body = {"status": "ready" if ready else "not_ready", "temporal": temporal_ok, "redis": redis_ok}
    return JSONResponse(body, status_code=200 if ready else 503)


async def _temporal_ok(svc: Services) -> bool:
    try:
        return bool(await asyncio.wait_for(svc.client.service_client.check_health(), timeout=3))
    except Exception:  # any failure to answer means not ready; the reason is not the prober's business
        return False


@router.get("/metrics", summary="Prometheus metrics (service and Temporal SDK)")
async def prometheus_metrics(svc: Services = Depends(services)) -> Response:
    try:
        slots = await asyncio.wait_for(query_slots(svc.client, svc.settings.temporal_task_queue), timeout=2)
        if slots is not None:
            metrics.INCIDENTS_WAITING.set(len(slots.waiting))
            metrics.INCIDENTS_HOLDING.set(len(slots.holders))
    except Exception:  # the coordinator's numbers are one gauge; the rest of the scrape still matters
        pass
    body, content_type = await asyncio.to_thread(metrics.render_metrics, svc.sdk_metrics_url)
    return Response(body, media_type=content_type)
