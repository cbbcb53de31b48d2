"""The console's forms (POST): approve or deny a step, release or extend a containment, pause or resume autonomy.

Every decision is the signed-in person's, with their key's roles, through the same code the JSON API uses
(api/decisions.py: the run's own checks, the audit log). The answer is a redirect back with one line saying what
happened, or what stopped it."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from xorb_orchestrator.api.console.guard import form, local_path
from xorb_orchestrator.api.console.render import redirect
from xorb_orchestrator.api.decisions import (
    approval_decision,
    decide_approval,
    extend_containment,
    pause_autonomy,
    release_containment,
    resume_autonomy,
)
from xorb_orchestrator.api.deps import services
from xorb_orchestrator.api.errors import ApiError
from xorb_orchestrator.models.containment import MAX_EXTENSION, ExtendRequest
from xorb_orchestrator.playbook import format_duration, parse_duration

router = APIRouter()
_OUTPUT_PREFIX = "output."


def _back(request: Request, fields: dict[str, str], default: str) -> str:
    return local_path(fields.get("back") or default)


@router.post("/incidents/{incident_id}/decide")
async def decide(incident_id: str, request: Request) -> Response:
    session, fields = await form(request)
    person = session.person
    back = _back(request, fields, f"/incidents/{quote(incident_id, safe='')}")
    approve = fields.get("decision") == "approve"
    if fields.get("decision") not in ("approve", "deny"):
        return redirect(request, back, "Choose approve or deny.")
    iteration = fields.get("iteration", "")
    outputs = {name[len(_OUTPUT_PREFIX) :]: value for name, value in fields.items() if name.startswith(_OUTPUT_PREFIX)}
    try:
        decision = approval_decision(
            incident_id,
            fields.get("step", ""),
            int(iteration) if iteration.isdigit() else None,
            person.name,
            list(person.roles),
            approve,
            fields.get("comment", "")[:2000],
            outputs,
        )
        _, receipt, _ = await decide_approval(services(request), decision, "console")
    except ValidationError as exc:
        return redirect(request, back, f"Not sent: {exc.errors()[0]['msg']}")
    except ApiError as exc:
        return redirect(request, back, f"Not counted: {exc.message}")
    verb = "Approved" if approve else "Denied"
    return redirect(request, back, f"{verb} step {receipt.step_id}: {receipt.outcome} ({receipt.approvals} of "
                                   f"{receipt.required} approvals).")  # fmt: skip


@router.post("/containments/{workflow_id}/release")
async def release(workflow_id: str, request: Request) -> Response:
    session, fields = await form(request)
    person = session.person
    back = _back(request, fields, "/containments")
    try:
        summary = await release_containment(
            services(request), workflow_id, person.name, fields.get("reason", "")[:1000]
        )
    except ApiError as exc:
        return redirect(request, back, f"Not released: {exc.message}")
    return redirect(request, back, f"Released: {summary.reason or workflow_id}; its undo runs now.")


@router.post("/containments/{workflow_id}/extend")
async def extend(workflow_id: str, request: Request) -> Response:
    session, fields = await form(request)
    person = session.person
    back = _back(request, fields, "/containments")
    try:
        duration = parse_duration(fields.get("duration", "").strip())
    except ValueError as exc:
        return redirect(request, back, f"Not extended: duration: {exc} (e.g. 12h, 3d)")
    if duration > MAX_EXTENSION:
        return redirect(request, back, f"Not extended: at most {format_duration(MAX_EXTENSION)} from now.")
    request_ = ExtendRequest(by=person.name, until=datetime.now(UTC) + duration, reason=fields.get("reason", "")[:1000])
    try:
        summary = await extend_containment(services(request), workflow_id, request_)
    except ApiError as exc:
        return redirect(request, back, f"Not extended: {exc.message}")
    return redirect(request, back, f"Extended until {summary.until:%Y-%m-%d %H:%M} UTC.")


@router.post("/autonomy/pause")
async def pause(request: Request) -> Response:
    session, fields = await form(request)
    person = session.person
    rollback = fields.get("rollback") == "yes"
    try:
        _, released, _ = await pause_autonomy(services(request), person.name, fields.get("reason", "")[:1000], rollback)
    except ApiError as exc:
        return redirect(request, "/autonomy", f"Not paused: {exc.message}")
    also = f"; {len(released)} containments released" if rollback else ""
    return redirect(request, "/autonomy", f"Autonomy paused{also}: new effects wait for a person.")


@router.post("/autonomy/resume")
async def resume(request: Request) -> Response:
    session, fields = await form(request)
    person = session.person
    try:
        await resume_autonomy(services(request), person.name, list(person.roles), fields.get("reason", "")[:1000])
    except ApiError as exc:
        return redirect(request, "/autonomy", f"Not resumed: {exc.message}")
    return redirect(request, "/autonomy", "Autonomy resumed.")
