"""GET /v1/approvals (pending) and POST /v1/incidents/{id}/approvals (approve or deny one step).

Who decides (docs/approvals.md): a person-bound API key (`<key> <person> <role>,...` in XORB_API_KEY_FILE)
approves as its person with its roles; X-Xorb-Approver / X-Xorb-Roles sent with it may repeat the name or narrow
the roles, and anything else is refused (403 identity_mismatch) rather than silently preferred. A service key
names the approver in those headers only when XORB_APPROVER_HEADERS=trust (the default: the dev stack, or a
proxy that authenticates people and sets the headers); with `refuse` it cannot decide (403 not_bound). The run's
Update validator then checks the person against the step's approvers and counts each person once; the name and
the role through which they count are recorded with every vote. An approval gives the values the step asks
for (`outputs`); the run refuses any other set of names (409 approval_refused), a denial needs none.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, ConfigDict, Field

from xorb_orchestrator.api.auth import require_api_key
from xorb_orchestrator.api.decisions import approval_decision, decide_approval
from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.api.errors import ApiError
from xorb_orchestrator.api.identity import decider
from xorb_orchestrator.config.api_keys import Person
from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.models.approvals import ApprovalOutputs
from xorb_orchestrator.services import playbook_runs

router = APIRouter()
_INCIDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")


class ApprovalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str = Field(min_length=1, max_length=64, description="The approval step's id.")
    approve: bool = Field(description="true approves, false denies.")
    comment: str = Field("", max_length=2000)
    iteration: int | None = Field(None, ge=0, description="The for_each item, when the approval is in a loop.")
    outputs: ApprovalOutputs = Field(
        default_factory=dict,
        description="With an approval: the values the step asks for, name -> text (GET /v1/approvals lists the "
        "names); a denial needs none, and any sent with one are ignored.",
    )


def _unavailable(exc: Exception) -> ApiError:
    return ApiError(503, "unavailable", str(exc), headers={"Retry-After": "5"})


@router.get("/approvals", summary="Approvals waiting for people in running playbook runs")
async def list_approvals(svc: Services = Depends(services)) -> dict[str, Any]:
    try:
        pending = await playbook_runs.pending_approvals(svc.client, svc.settings)
    except TemporalUnavailable as exc:
        raise _unavailable(exc) from None
    items = []
    for item in pending.items:
        request = item.request
        items.append(
            {
                "incident_id": request.incident_id,
                "step_id": request.step_id,
                "iteration": request.iteration,
                "playbook_id": item.playbook_id,
                "workflow_id": item.workflow_id,
                "message": request.message,
                "approvers": {"roles": request.roles, "people": request.people},
                "required": request.required,
                "received": request.approvals(),
                "round": request.round,
                "deadline": request.deadline.isoformat(),
                "votes": [vote.model_dump(mode="json") for vote in request.votes],
                "outputs": request.outputs,
                # What an approval sends: each gated step's request, rendered exactly as it will be sent.
                "requests": [shown.model_dump(mode="json") for shown in request.requests],
            }
        )
    # Runs that could not be asked (no worker answered): their approvals are not listed, but they are not lost.
    return {"items": items, "unanswered_runs": pending.silent}


@router.post(
    "/incidents/{incident_id}/approvals",
    summary="Approve or deny a step waiting for approval (as the API key's person, or X-Xorb-Approver/-Roles)",
    responses={
        403: {"description": "not an allowed approver, or the key cannot speak for that person"},
        409: {"description": "not waiting / refused"},
        503: {"description": "Temporal unavailable, or no worker answered for the incident's run: retry"},
    },
)
async def decide(
    incident_id: str,
    body: ApprovalBody,
    svc: Services = Depends(services),
    person: Person | None = Depends(require_api_key),
    approver: str | None = Header(None, alias="X-Xorb-Approver"),
    roles: str | None = Header(None, alias="X-Xorb-Roles"),
) -> dict[str, Any]:
    if not _INCIDENT_ID.match(incident_id):
        raise ApiError(404, "not_found", f"no incident {incident_id!r}")
    name, held = decider(person, approver, roles, svc.settings.approver_headers)
    decision = approval_decision(
        incident_id, body.step, body.iteration, name, held, body.approve, body.comment, body.outputs
    )
    identity = "api_key" if person is not None else "header"
    workflow_id, receipt, audited = await decide_approval(svc, decision, identity)
    return {
        "audited": audited,
        "incident_id": incident_id,
        "workflow_id": workflow_id,
        "step_id": receipt.step_id,
        "iteration": receipt.iteration,
        "approver": name,
        "roles": held,
        "identity": identity,
        "approve": body.approve,
        "comment": body.comment,
        "outputs": decision.outputs,
        "approvals": receipt.approvals,
        "required": receipt.required,
        "outcome": receipt.outcome,
    }
