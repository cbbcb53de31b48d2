"""The kill switch: GET /v1/autonomy (paused or not, and each budget's use), POST /v1/autonomy/pause (anyone who
can be named may stop new autonomous effects; `rollback` also releases every open containment) and POST
/v1/autonomy/resume (only the roles that decide held effects, XORB_GUARDRAIL_APPROVERS)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field

from xorb_orchestrator.api.auth import require_api_key
from xorb_orchestrator.api.decisions import pause_autonomy, resume_autonomy
from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.api.identity import decider
from xorb_orchestrator.api.openapi import errors
from xorb_orchestrator.config.api_keys import Person
from xorb_orchestrator.services import autonomy

router = APIRouter()


class PauseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=1000, description="Why: shown with every effect held while paused.")
    rollback: bool = Field(False, description="Also release every open containment now (their undo runs).")


class ResumeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=1000)


@router.get("/autonomy", summary="The kill switch and the blast-radius budgets' use", responses=errors(503))
async def status(svc: Services = Depends(services)) -> dict[str, Any]:
    state = await autonomy.state(svc.client, svc.settings)
    return state.model_dump(mode="json")


@router.post(
    "/autonomy/pause",
    summary="Stop every new autonomous effect deployment-wide (steps in flight finish; new ones wait for a person)",
    responses=errors(403, 422, 503),
)
async def pause(
    body: PauseBody,
    svc: Services = Depends(services),
    person: Person | None = Depends(require_api_key),
    approver: str | None = Header(None, alias="X-Xorb-Approver"),
    roles: str | None = Header(None, alias="X-Xorb-Roles"),
) -> dict[str, Any]:
    name, _ = decider(person, approver, roles, svc.settings.approver_headers)
    state, released, audited = await pause_autonomy(svc, name, body.reason, body.rollback)
    return {"autonomy": state.model_dump(mode="json"), "released": released, "audited": audited}


@router.post(
    "/autonomy/resume",
    summary="Let autonomous effects start again (roles of XORB_GUARDRAIL_APPROVERS)",
    responses=errors(403, 422, 503),
)
async def resume(
    body: ResumeBody,
    svc: Services = Depends(services),
    person: Person | None = Depends(require_api_key),
    approver: str | None = Header(None, alias="X-Xorb-Approver"),
    roles: str | None = Header(None, alias="X-Xorb-Roles"),
) -> dict[str, Any]:
    name, held = decider(person, approver, roles, svc.settings.approver_headers)
    state, audited = await resume_autonomy(svc, name, held, body.reason)
    return {"autonomy": state.model_dump(mode="json"), "audited": audited}
