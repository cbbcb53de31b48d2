"""Threat intelligence: GET /v1/ti/feeds, POST /v1/ti/feeds/{name}/sync, GET /v1/ti/lookup."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from temporalio.service import RPCError

from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.api.errors import RETRY_AFTER_SECONDS, ApiError
from xorb_orchestrator.api.openapi import errors
from xorb_orchestrator.infrastructure.indicator_store import IndicatorStoreError
from xorb_orchestrator.services.feed_syncs import SyncFailed, start_sync, sync_result
from xorb_orchestrator.services.intel import feed_views, lookup, parse_value

router = APIRouter()

MAX_WAIT_SECONDS = 600


def _unavailable(message: str) -> ApiError:
    return ApiError(503, "unavailable", message, headers={"Retry-After": RETRY_AFTER_SECONDS})


@router.get("/ti/feeds", summary="The configured threat-intelligence feeds and their last syncs", responses=errors(503))
async def list_feeds(svc: Services = Depends(services)) -> dict[str, Any]:
    try:
        views = await feed_views(svc.indicators, svc.feeds)
    except IndicatorStoreError as exc:
        raise _unavailable(str(exc)) from None
    return {"items": [view.model_dump(mode="json") for view in views]}


@router.post(
    "/ti/feeds/{name}/sync",
    summary="Sync a feed now (or join its sync under way); with wait, answer when it has finished",
    responses={
        202: {"description": "started (or already under way); not waited for"},
        **errors(400, 404, 502, 503),
    },
)
async def sync_feed(
    name: str,
    full: bool = Query(False, description="read everything even where the feed can resume (TAXII)"),
    wait: int = Query(0, ge=0, le=MAX_WAIT_SECONDS, description="seconds to wait for the sync to finish"),
    svc: Services = Depends(services),
) -> JSONResponse:
    if svc.feeds.feed(name) is None:
        known = ", ".join(feed.name for feed in svc.feeds.feeds) or "none: XORB_TI_FEEDS_FILE is not set"
        raise ApiError(404, "not_found", f"no feed named {name[:64]!r} (configured: {known})")
    try:
        handle = await start_sync(svc.client, svc.indicators, svc.settings.temporal_task_queue, name, full=full)
    except RPCError as exc:
        raise _unavailable(f"Temporal did not take the sync: {exc.message}") from None
    except IndicatorStoreError as exc:
        raise _unavailable(str(exc)) from None
    started = {"feed": name, "workflow_id": handle.id}
    if not wait:
        return JSONResponse({**started, "status": "running"}, status_code=202)
    try:
        result = await asyncio.wait_for(asyncio.shield(sync_result(svc.client, handle)), timeout=wait)
    except TimeoutError:
        return JSONResponse({**started, "status": "running"}, status_code=202)
    except SyncFailed as exc:
        raise ApiError(502, "sync_failed", str(exc)) from None
    return JSONResponse({**started, **result.model_dump(mode="json")}, status_code=200)


@router.get(
    "/ti/lookup",
    summary="What the feeds say about a value: the combined verdict and every source's",
    responses=errors(400, 503),
)
async def lookup_value(
    value: str = Query(..., min_length=1, max_length=2048, description="an address, network, domain, URL, hash"),
    type: str | None = Query(None, description="ipv4|ipv6|domain|url|md5|sha1|sha256|email (default: guessed)"),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    try:
        kind, canonical_value = parse_value(value, type)
    except ValueError as exc:
        raise ApiError(
            400, "invalid_query", f"value: {exc}", fields=[{"field": "value", "message": str(exc)}]
        ) from None
    try:
        [verdict] = await lookup(svc.indicators, svc.feeds, [(kind, canonical_value)])
    except IndicatorStoreError as exc:
        raise _unavailable(str(exc)) from None
    return verdict.model_dump(mode="json")
