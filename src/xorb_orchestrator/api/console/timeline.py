"""An incident's story in time order, for its console page: alerts, the plan, every step (attempts, errors),
each vote and approval waiting, the containment and its end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from xorb_orchestrator.models.approvals import ApprovalRequest
from xorb_orchestrator.models.incident import IncidentView
from xorb_orchestrator.models.run_records import StepRecord


@dataclass(frozen=True)
class Entry:
    at: datetime | None  # None: not happened yet (shown last, in plan order)
    kind: str  # alert | plan | step | vote | approval | containment | incident
    title: str
    detail: str = ""
    state: str = ""  # a status word the page colours (completed, failed, running, waiting ...)


def _step_entries(step: StepRecord) -> list[Entry]:
    name = step.id + (f" [{step.iteration}]" if step.iteration is not None else "")
    what = f"{step.kind} {step.action}" if step.action else step.kind
    attempts = f"{step.attempts} attempt{'s' if step.attempts != 1 else ''}" if step.attempts else ""
    detail = "; ".join(filter(None, [attempts, step.decision and f"took {step.decision}", step.error]))
    entries = [Entry(step.started_at, "step", f"step {name}: {what}", detail, str(step.status))]
    for vote in step.votes:
        verb = "approved" if vote.approve else "denied"
        role = f" as {vote.role}" if vote.role else ""
        comment = f": “{vote.comment}”" if vote.comment else ""
        entries.append(Entry(vote.at, "vote", f"{vote.approver}{role} {verb} step {name}{comment}", f"via {vote.via}"))
    if step.ended_at is not None and step.ended_at != step.started_at:
        entries.append(Entry(step.ended_at, "step", f"step {name} {step.status}", "", str(step.status)))
    return entries


def _waiting(request: ApprovalRequest) -> Entry:
    who = ", ".join([*(f"role {role}" for role in request.roles), *request.people]) or "anyone allowed"
    return Entry(
        None,
        "approval",
        f"step {request.step_id} waits for approval ({request.approvals()} of {request.required})",
        f"{who}; deadline {request.deadline:%Y-%m-%d %H:%M:%S} UTC",
        "waiting",
    )


def timeline(view: IncidentView) -> list[Entry]:
    entries = [
        Entry(view.first_seen, "alert", "first alert", f"{view.source}: {view.title}"),
        Entry(view.created_at, "incident", f"incident opened ({view.correlation_key})"),
    ]
    if view.alert_count > 1 or view.duplicate_count:
        counts = f"{view.alert_count} alerts, {view.duplicate_count} duplicates"
        entries.append(Entry(view.last_seen, "alert", "latest alert", counts))
    if view.plan is not None:
        entries.append(Entry(view.created_at, "plan", f"plan: {view.plan.playbook}", view.plan.rationale))
    for built_in in view.steps:
        detail = "; ".join(filter(None, [f"{built_in.attempts} attempts" if built_in.attempts else "", built_in.error]))
        entries.append(Entry(built_in.started_at, "step", f"step {built_in.id}: {built_in.action}", detail,
                             str(built_in.status)))  # fmt: skip
    run = view.playbook_run
    if run is not None:
        for step in run.steps:
            entries += _step_entries(step)
        entries += [_waiting(request) for request in run.pending_approvals]
        for undo in run.compensations:
            entries.append(Entry(None, "step", f"undo of {undo.step_id}: {undo.action}", undo.error or "", undo.status))
    contained = view.containment
    if contained is not None:
        until = f"{contained.until:%Y-%m-%d %H:%M:%S} UTC"
        entries.append(Entry(None, "containment", f"containment {contained.status} until {until}", contained.reason,
                             contained.status))  # fmt: skip
        if contained.released_at is not None:
            by = f" by {contained.released_by}" if contained.released_by else ""
            entries.append(Entry(contained.released_at, "containment", f"containment released{by}", "", "released"))
    if view.closed_at is not None:
        entries.append(Entry(view.closed_at, "incident", "incident closed to new alerts", "", "closed"))
    if view.error:
        entries.append(Entry(None, "incident", "error", view.error, "failed"))
    happened = sorted((e for e in entries if e.at is not None), key=lambda e: e.at or view.created_at)
    return happened + [e for e in entries if e.at is None]
