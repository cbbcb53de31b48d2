"""The console's pages (GET): incidents and one incident, approvals waiting, containments, feeds, autonomy.

Each page that updates live has a fragment route (`.../live`) its script re-reads every few seconds; the page
embeds the same fragment, so everything works with scripts off too (reload to update)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from xorb_orchestrator.api.console.guard import current
from xorb_orchestrator.api.console.render import page, redirect
from xorb_orchestrator.api.console.session import Session
from xorb_orchestrator.api.console.timeline import timeline
from xorb_orchestrator.api.deps import Services, services
from xorb_orchestrator.infrastructure.indicator_store import IndicatorStoreError
from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.models.approvals import ApprovalRequest
from xorb_orchestrator.models.incident import IncidentStatus
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.services import autonomy, containments, playbook_runs
from xorb_orchestrator.services.incident_client import IncidentNotFound
from xorb_orchestrator.services.incident_search import IncidentFilter, search_incidents
from xorb_orchestrator.services.incidents import BadRequest, get_incident
from xorb_orchestrator.services.intel import feed_views
from xorb_orchestrator.services.plan_explanation import decision_lines

router = APIRouter()
_FILTERS = ("status", "severity", "source", "observable", "q", "since", "until")
UNREADABLE = (TemporalUnavailable, RPCError, WorkflowQueryFailedError, IndicatorStoreError)


def may_decide(person_name: str, roles: tuple[str, ...], request: ApprovalRequest) -> bool:
    """Whether this person can count towards the approval (the run checks again when they decide)."""
    return (
        person_name in request.people or bool(set(roles) & set(request.roles)) or not (request.people or request.roles)
    )


def _time(value: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{field}: expected a date and time like 2026-12-07T09:30, got {value[:40]!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _chosen(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "").strip()[:200] for name in _FILTERS}


async def _incident_rows(request: Request, svc: Services) -> dict[str, Any]:
    chosen = _chosen(request)
    context: dict[str, Any] = {"chosen": chosen, "items": [], "problem": "", "more": None, "scanned": 0, "query": ""}
    try:
        wanted = IncidentFilter(
            status=chosen["status"] or None,
            severity=chosen["severity"] or None,
            since=_time(chosen["since"], "from"),
            until=_time(chosen["until"], "until"),
            source=chosen["source"] or None,
            observable=chosen["observable"] or None,
            text=chosen["q"] or None,
        )
        found = await search_incidents(
            svc.client, svc.cache, wanted, page_size=50, page_token=request.query_params.get("page") or None,
            task_queue=svc.settings.temporal_task_queue,
        )  # fmt: skip
    except BadRequest as exc:
        context["problem"] = str(exc)
        return context
    except UNREADABLE as exc:
        context["problem"] = f"Temporal could not be asked right now ({exc}); this list retries by itself."
        return context
    query = {name: value for name, value in chosen.items() if value}
    context.update(items=found.items, scanned=found.scanned, query=urlencode(query))
    if found.next_page_token:
        context["more"] = "/incidents?" + urlencode({**query, "page": found.next_page_token})
    return context


@router.get("/")
async def home(request: Request, _: Session = Depends(current)) -> Response:
    return redirect(request, "/incidents")


@router.get("/incidents")
async def incidents(request: Request, svc: Services = Depends(services), _: Session = Depends(current)) -> Response:
    context = await _incident_rows(request, svc)
    statuses = [status.value for status in IncidentStatus]
    severities = [severity.label for severity in Severity]
    live = "/incidents/live?" + request.url.query
    return page(request, "incidents.html", statuses=statuses, severities=severities, live=live, **context)


@router.get("/incidents/live")
async def incident_rows(request: Request, svc: Services = Depends(services), _: Session = Depends(current)) -> Response:
    return page(request, "_incident_rows.html", **await _incident_rows(request, svc))


async def _incident(incident_id: str, svc: Services, session: Session) -> dict[str, Any]:
    try:
        view = await get_incident(svc.client, svc.cache, incident_id)
    except IncidentNotFound:
        return {"missing": True, "incident_id": incident_id}
    plan = view.plan.model_dump(mode="json") if view.plan else None
    waiting = view.playbook_run.pending_approvals if view.playbook_run else []
    person = session.person
    ui = svc.settings.temporal_ui_url
    history = (
        f"{ui}/namespaces/{quote(svc.settings.temporal_namespace, safe='')}/workflows/{quote(incident_id, safe='')}"
    )
    return {
        "missing": False,
        "incident": view,
        "entries": timeline(view),
        "explanation": decision_lines(plan) if plan else [],
        "waiting": [(request, may_decide(person.name, person.roles, request)) for request in waiting],
        "history_url": history if ui else "",
        "back": f"/incidents/{quote(incident_id, safe='')}",
    }


@router.get("/incidents/{incident_id}")
async def incident(
    incident_id: str, request: Request, svc: Services = Depends(services), session: Session = Depends(current)
) -> Response:
    try:
        context = await _incident(incident_id, svc, session)
    except UNREADABLE as exc:
        return page(request, "problem.html", 503, problem=f"incident {incident_id[:80]} cannot be read now: {exc}")
    if context["missing"]:
        return page(request, "problem.html", 404, problem=f"There is no incident {incident_id[:80]!r}.")
    return page(request, "incident.html", live=f"/incidents/{quote(incident_id, safe='')}/live", **context)


@router.get("/incidents/{incident_id}/live")
async def incident_live(
    incident_id: str, request: Request, svc: Services = Depends(services), session: Session = Depends(current)
) -> Response:
    try:
        context = await _incident(incident_id, svc, session)
    except UNREADABLE as exc:
        return page(request, "_unreadable.html", 503, problem=str(exc))
    return page(request, "_incident_live.html", 404 if context["missing"] else 200, **context)


async def _approvals(svc: Services, session: Session) -> dict[str, Any]:
    pending = await playbook_runs.pending_approvals(svc.client, svc.settings)
    person = session.person
    items = [(item, may_decide(person.name, person.roles, item.request)) for item in pending.items]
    return {"items": items, "silent": pending.silent}


@router.get("/approvals")
async def approvals(
    request: Request, svc: Services = Depends(services), session: Session = Depends(current)
) -> Response:
    try:
        context = await _approvals(svc, session)
    except UNREADABLE as exc:
        return page(request, "problem.html", 503, problem=f"approvals cannot be read now: {exc}")
    return page(request, "approvals.html", live="/approvals/live", **context)


@router.get("/approvals/live")
async def approvals_live(
    request: Request, svc: Services = Depends(services), session: Session = Depends(current)
) -> Response:
    try:
        return page(request, "_approval_rows.html", **await _approvals(svc, session))
    except UNREADABLE as exc:
        return page(request, "_unreadable.html", 503, problem=str(exc))


@router.get("/containments")
async def containment_list(
    request: Request, svc: Services = Depends(services), _: Session = Depends(current)
) -> Response:
    shown = "all" if request.query_params.get("state") == "all" else "open"
    try:
        found = await containments.list_containments(svc.client, svc.settings, open_only=shown == "open")
    except UNREADABLE as exc:
        return page(request, "problem.html", 503, problem=f"containments cannot be read now: {exc}")
    return page(request, "containments.html", items=found, shown=shown, back="/containments")


@router.get("/feeds")
async def feeds(request: Request, svc: Services = Depends(services), _: Session = Depends(current)) -> Response:
    try:
        views = await feed_views(svc.indicators, svc.feeds)
    except UNREADABLE as exc:
        return page(request, "problem.html", 503, problem=f"feeds cannot be read now: {exc}")
    return page(request, "feeds.html", items=views)


@router.get("/autonomy")
async def autonomy_page(
    request: Request, svc: Services = Depends(services), session: Session = Depends(current)
) -> Response:
    try:
        state = await autonomy.state(svc.client, svc.settings)
    except UNREADABLE as exc:
        return page(request, "problem.html", 503, problem=f"the kill switch cannot be read now: {exc}")
    allowed = svc.settings.guardrail_approver_roles
    may_resume = bool(set(session.person.roles) & set(allowed))
    return page(request, "autonomy.html", state=state, may_resume=may_resume, resume_roles=allowed)
