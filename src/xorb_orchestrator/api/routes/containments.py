"""The containment ledger: GET /v1/containments (open ones, or `?state=all`), GET /v1/containments/{id}, and a
person's POST /v1/containments/{id}/release (the undo runs now) and /extend (its end moves, at most 30 days ahead)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from xorb_orchestrator.api.auth import require_api_key
from xorb_orchestrator.api.decisions import extend_containment, release_containment
from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.api.errors import ApiError
from xorb_orchestrator.api.identity import decider
from xorb_orchestrator.api.openapi import errors
from xorb_orchestrator.config.api_keys import Person
from xorb_orchestrator.models.containment import MAX_EXTENSION, ExtendRequest
from xorb_orchestrator.playbook import Duration, format_duration
from xorb_orchestrator.services import containments

router = APIRouter()


class ReleaseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=1000)


class ExtendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration: Duration | None = Field(None, description="The new end as a time from now, e.g. 12h.")
    until: datetime | None = Field(None, description="The new end as a time (UTC when no offset is given).")
    reason: str = Field("", max_length=1000)

    @model_validator(mode="after")
    def _one(self) -> ExtendBody:
        if (self.duration is None) == (self.until is None):
            raise ValueError("give duration or until (one of them)")
        if self.duration is not None and self.duration > MAX_EXTENSION:
            raise ValueError(f"duration: at most {format_duration(MAX_EXTENSION)} from now")
        return self

    def new_end(self) -> datetime:
        if self.until is not None:
            return self.until if self.until.tzinfo else self.until.replace(tzinfo=UTC)
        return datetime.now(UTC) + (self.duration or timedelta(0))


@router.get("/containments", summary="Containments: what is in place, until when, and its undo", responses=errors(503))
async def list_containments(
    svc: Services = Depends(services),
    state: Literal["open", "all"] = Query("open", description="open (default) or all (ended ones too)"),
) -> dict[str, Any]:
    found = await containments.list_containments(svc.client, svc.settings, open_only=state == "open")
    return {"items": [summary.model_dump(mode="json") for summary in found]}


@router.get("/containments/{workflow_id}", summary="One containment", responses=errors(404, 503))
async def get_containment(workflow_id: str, svc: Services = Depends(services)) -> dict[str, Any]:
    try:
        return (await containments.get(svc.client, workflow_id)).model_dump(mode="json")
    except containments.NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None


@router.post(
    "/containments/{workflow_id}/release",
    summary="Release a containment now: its undo runs (as the key's person, or X-Xorb-Approver)",
    responses=errors(403, 404, 409, 422, 503),
)
async def release(
    workflow_id: str,
    body: ReleaseBody,
    svc: Services = Depends(services),
    person: Person | None = Depends(require_api_key),
    approver: str | None = Header(None, alias="X-Xorb-Approver"),
    roles: str | None = Header(None, alias="X-Xorb-Roles"),
) -> dict[str, Any]:
    name, _ = decider(person, approver, roles, svc.settings.approver_headers)
    return (await release_containment(svc, workflow_id, name, body.reason)).model_dump(mode="json")


@router.post(
    "/containments/{workflow_id}/extend",
    summary="Keep a containment longer: its end moves (at most 30 days from now)",
    responses=errors(403, 404, 409, 422, 503),
)
async def extend(
    workflow_id: str,
    body: ExtendBody,
    svc: Services = Depends(services),
    person: Person | None = Depends(require_api_key),
    approver: str | None = Header(None, alias="X-Xorb-Approver"),
    roles: str | None = Header(None, alias="X-Xorb-Roles"),
) -> dict[str, Any]:
    name, _ = decider(person, approver, roles, svc.settings.approver_headers)
    request = ExtendRequest(by=name, until=body.new_end(), reason=body.reason)
    return (await extend_containment(svc, workflow_id, request)).model_dump(mode="json")
