"""People's decisions, shared by the JSON API and the console: approve or deny a step, release or extend a
containment, pause or resume autonomy. Each takes effect, is appended to the audit log, and raises ApiError with
the status and sentence either front end shows."""

from __future__ import annotations

from xorb_orchestrator.api.audit_trail import record
from xorb_orchestrator.api.deps import Services
from xorb_orchestrator.api.errors import ApiError
from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.models.approvals import ApprovalOutputs, ApprovalReceipt
from xorb_orchestrator.models.containment import ContainmentSummary, ExtendRequest, ReleaseRequest
from xorb_orchestrator.models.guardrails import AutonomyState, PauseRequest
from xorb_orchestrator.models.playbook_run import ApprovalDecision
from xorb_orchestrator.services import autonomy, containments, playbook_runs
from xorb_orchestrator.services.playbook_client import ApprovalRejected


def _unavailable(exc: Exception) -> ApiError:
    return ApiError(503, "unavailable", str(exc), headers={"Retry-After": "5"})


async def decide_approval(
    svc: Services, decision: ApprovalDecision, identity: str
) -> tuple[str, ApprovalReceipt, bool]:
    """(the run's workflow id, the run's receipt, audited). `identity`: api_key | header | console."""
    try:
        workflow_id, receipt = await playbook_runs.decide(svc.client, svc.settings, decision)
    except playbook_runs.NotWaiting as exc:
        raise ApiError(409, "not_waiting", str(exc)) from None
    except playbook_runs.RunNotAnswering as exc:
        raise ApiError(503, "run_not_answering", str(exc), headers={"Retry-After": "5"}) from None
    except playbook_runs.NotAllowed as exc:
        raise ApiError(403, "not_allowed", str(exc)) from None
    except ApprovalRejected as exc:
        raise ApiError(409, "approval_refused", str(exc)) from None
    except TemporalUnavailable as exc:
        raise _unavailable(exc) from None
    metrics.APPROVAL_DECISIONS.labels("approve" if decision.approve else "deny", identity).inc()
    detail = {"step": receipt.step_id, "iteration": receipt.iteration, "approve": decision.approve,
              "roles": decision.roles, "comment": decision.comment[:2000], "outcome": receipt.outcome,
              "workflow_id": workflow_id, "via": identity}  # fmt: skip
    audited = await record(
        svc, "approval", decision.approver, f"{workflow_id}/{receipt.step_id}", detail, decision.incident_id
    )
    return workflow_id, receipt, audited


def approval_decision(
    incident_id: str,
    step: str,
    iteration: int | None,
    name: str,
    roles: list[str],
    approve: bool,
    comment: str,
    outputs: ApprovalOutputs,
) -> ApprovalDecision:
    return ApprovalDecision(
        incident_id=incident_id,
        step_id=step,
        iteration=iteration,
        approver=name,
        roles=roles,
        approve=approve,
        comment=comment,
        outputs=outputs if approve else {},  # a denial gives no values: none reach the run's history
    )


async def release_containment(svc: Services, workflow_id: str, name: str, reason: str) -> ContainmentSummary:
    try:
        summary = await containments.release(svc.client, workflow_id, ReleaseRequest(by=name, reason=reason))
    except containments.NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except containments.NotActive as exc:
        raise ApiError(409, "not_active", str(exc)) from None
    await record(svc, "release", name, workflow_id, {"reason": reason}, summary.incident_id)
    return summary


async def extend_containment(svc: Services, workflow_id: str, request: ExtendRequest) -> ContainmentSummary:
    try:
        summary = await containments.extend(svc.client, workflow_id, request)
    except containments.NotFound as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    except containments.NotActive as exc:
        raise ApiError(409, "not_active", str(exc)) from None
    detail = {"until": request.until.isoformat(), "reason": request.reason}
    await record(svc, "extend", request.by, workflow_id, detail, summary.incident_id)
    return summary


async def pause_autonomy(
    svc: Services, name: str, reason: str, rollback: bool
) -> tuple[AutonomyState, list[str], bool]:
    """(the state now, the containments released by a rollback, audited)."""
    state = await autonomy.pause(svc.client, svc.settings, PauseRequest(by=name, reason=reason))
    released = (
        await containments.release_all(
            svc.client, svc.settings, ReleaseRequest(by=name, reason=f"kill switch rollback: {reason}".strip())
        )
        if rollback
        else []
    )
    detail = {"paused": True, "reason": reason, "rollback": rollback, "released": released[:1000]}
    audited = await record(svc, "autonomy", name, "pause", detail)
    return state, released, audited


async def resume_autonomy(svc: Services, name: str, roles: list[str], reason: str) -> tuple[AutonomyState, bool]:
    """Only the roles that decide held effects (XORB_GUARDRAIL_APPROVERS) may let autonomy act again."""
    allowed = svc.settings.guardrail_approver_roles
    if not set(roles) & set(allowed):
        raise ApiError(403, "not_allowed", f"{name} may not resume autonomy (roles allowed: {', '.join(allowed)})")
    state = await autonomy.resume(svc.client, svc.settings, PauseRequest(by=name, reason=reason))
    audited = await record(svc, "autonomy", name, "resume", {"paused": False, "reason": reason})
    return state, audited
