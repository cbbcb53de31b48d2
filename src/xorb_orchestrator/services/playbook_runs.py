"""Playbook runs for the API and the CLI: the catalog, dry runs, starting a run, pending approvals, decisions.

A dry run is the real PlaybookWorkflow on Temporal with `dry_run=True`: actions that always change something
(notify.webhook) are recorded `simulated` without being called; actions whose effect depends on their arguments
(http.request) are called with `dry_run` set and simulate themselves when *this* call would change something
(a POST) — a GET or HEAD really runs, so later steps see real lookups. Approvals approve themselves, waits are
skipped. Zero mutating calls leave the orchestrator.
"""

from __future__ import annotations

import asyncio
import difflib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client

from xorb_orchestrator.config import Settings
from xorb_orchestrator.models.alert import AlertEnvelope
from xorb_orchestrator.models.ids import dry_run_incident_id, playbook_run_id, playbook_runs_prefix
from xorb_orchestrator.models.incident import IncidentView
from xorb_orchestrator.models.playbook_run import (
    ApprovalDecision,
    ApprovalReceipt,
    ApprovalRequest,
    PlaybookRunInput,
    PlaybookRunResult,
)
from xorb_orchestrator.playbook import Playbook, PlaybookError, PlaybookInvalid, parse_playbook
from xorb_orchestrator.playbook import validate_playbook as check_playbook
from xorb_orchestrator.playbook.actions import ActionCatalog
from xorb_orchestrator.playbook.cacao import is_cacao, load_cacao
from xorb_orchestrator.playbook.catalog import PlaybookCatalog, load_usable
from xorb_orchestrator.policy.playbook_selection import inputs_from_observables
from xorb_orchestrator.services import playbook_client as runs
from xorb_orchestrator.sources.generic_alert import GenericAlert
from xorb_orchestrator.workflows.incident.state import open_incident

DRY_RUN_TIMEOUT = 60.0  # seconds a dry run may take (waits are skipped; lookups and retries are not)


class UnknownPlaybook(LookupError):
    """No playbook with this id in the catalog."""


class NotWaiting(LookupError):
    """No running playbook of the incident waits for an approval of this step."""


class RunNotAnswering(Exception):
    """The incident's running playbook run could not be asked what it waits for (no worker answered)."""


class NotAllowed(PermissionError):
    """The approver is neither named nor holds an allowed role."""


def catalog(settings: Settings, actions: ActionCatalog) -> PlaybookCatalog:
    """The usable playbooks of XORB_PLAYBOOKS_DIR, read now (an edited file counts from the next run on); a broken
    file is left out, and `catalog_problems` says why, so one bad file never takes the rest down."""
    return load_usable(settings.playbooks_dir, actions.flags())[0]


def catalog_problems(settings: Settings, actions: ActionCatalog) -> list[str]:
    """One line per problem of the files `catalog` leaves out (file, step, field)."""
    return load_usable(settings.playbooks_dir, actions.flags())[1]


def unknown_playbook_ids(settings: Settings, actions: ActionCatalog) -> list[str]:
    """Playbook ids XORB_PLAYBOOK_INPUTS or XORB_AUTO_PLAYBOOKS name that the catalog does not hold."""
    known = set(catalog(settings, actions))
    named = {(name, "XORB_PLAYBOOK_INPUTS") for name in settings.configured_playbook_inputs if name != "*"}
    named |= {(name, "XORB_AUTO_PLAYBOOKS") for name in settings.auto_playbook_ids or ()}
    lines = []
    for name, variable in sorted(named):
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(sorted(known)) or 'none'}"
            lines.append(f"{variable}: no playbook {name!r} in {settings.playbooks_dir} ({hint})")
    return lines


def parse_any(document: Any) -> Playbook:
    """A native playbook object or a CACAO 2.0 one (converted); PlaybookInvalid listing what is wrong."""
    if not isinstance(document, dict):
        raise PlaybookInvalid([PlaybookError("expected a playbook object, a CACAO 2.0 object or a playbook id")])
    return load_cacao(document) if is_cacao(document) else parse_playbook(document)


def validation_errors(document: Any, known: PlaybookCatalog, actions: ActionCatalog) -> list[str]:
    """Every problem of a playbook object, as `xorb playbook validate` prints it (without the file name)."""
    try:
        playbook = parse_any(document)
    except PlaybookInvalid as exc:
        return [str(error) for error in exc.errors]
    return [str(error) for error in check_playbook(playbook, actions.flags(), known.playbooks())]


def resolve(spec: Any, known: PlaybookCatalog, actions: ActionCatalog) -> Playbook:
    """The playbook a request names: a catalog id, or an object (validated against the catalog)."""
    if isinstance(spec, str):
        if spec not in known:
            raise UnknownPlaybook(f"no playbook {spec!r} in the catalog (known: {', '.join(sorted(known)) or 'none'})")
        return known[spec].playbook
    playbook = parse_any(spec)
    problems = check_playbook(playbook, actions.flags(), known.playbooks())
    if problems:
        raise PlaybookInvalid(problems)
    return playbook


def incident_from_alert(alert: Any, incident_id: str) -> IncidentView:
    """The incident a dry run pretends to respond to: one generic alert (ValueError when it is not one)."""
    parsed = GenericAlert.model_validate(alert).to_alert()
    now = datetime.now(UTC)
    return open_incident(
        incident_id, "dry-run", AlertEnvelope(alert=parsed, fingerprint="dry-run", received_at=now), now
    )


async def dry_run(
    client: Client,
    settings: Settings,
    actions: ActionCatalog,
    spec: Any,
    alert: Any,
    inputs: dict[str, Any],
    timeout: float = DRY_RUN_TIMEOUT,
    *,
    lookups: int = 0,
) -> tuple[str, PlaybookRunResult]:
    """Run a playbook dry on Temporal and wait for it: (workflow id, result). `lookups`: the real calls it may
    make to steps marked `dry_run: call` (0: all simulated). Raises UnknownPlaybook, PlaybookInvalid, ValueError
    (alert), InputError, DryRunTimeout, TemporalUnavailable."""
    known = await asyncio.to_thread(catalog, settings, actions)
    playbook = resolve(spec, known, actions)
    incident = incident_from_alert(alert, dry_run_incident_id(uuid.uuid4().hex[:16]))
    request = PlaybookRunInput.pin(
        playbook,
        incident=incident,
        inputs=inputs_from_observables(playbook, incident.observables, inputs),
        catalog=known.playbooks(),
        dry_run=True,
        # Actions a dry run never calls: those that always mutate. The others decide per call (see above).
        mutating_actions=actions.always_mutating(),
    ).model_copy(update={"dry_run_lookups": lookups})
    workflow_id = playbook_run_id(incident.incident_id, 1)
    result = await runs.run_to_end(client, settings.temporal_task_queue, request, workflow_id, timeout)
    return workflow_id, result


async def start_run(
    client: Client,
    settings: Settings,
    actions: ActionCatalog,
    playbook: Playbook,
    incident: IncidentView,
    inputs: dict[str, Any],
    number: int,
) -> str:
    """Start a real run (`playbook-<incident>-<number>`, pinned to the playbook's hash); its workflow id."""
    known = await asyncio.to_thread(catalog, settings, actions)
    request = PlaybookRunInput.pin(
        playbook,
        incident=incident,
        inputs=inputs_from_observables(playbook, incident.observables, inputs),
        catalog=known.playbooks(),
        mutating_actions=actions.mutating(),
    )
    workflow_id = playbook_run_id(incident.incident_id, number)
    await runs.start_run(client, settings.temporal_task_queue, request, workflow_id)
    return workflow_id


@dataclass
class PendingApproval:
    workflow_id: str
    playbook_id: str
    request: ApprovalRequest


@dataclass
class PendingApprovals:
    """The approvals waiting for people, and the running runs that could not say (no worker answered their
    query: after a worker crash, until a worker is back)."""

    items: list[PendingApproval]
    silent: list[str]


async def pending_approvals(client: Client, settings: Settings, incident_id: str | None = None) -> PendingApprovals:
    """Approvals waiting for people in the running playbook runs (of one incident, when given), oldest deadline
    first, and the runs that did not answer."""
    prefix = playbook_runs_prefix(incident_id) if incident_id is not None else None
    ids = await runs.running_runs(client, settings.temporal_task_queue, prefix)
    states = await asyncio.gather(*(runs.run_state(client, workflow_id) for workflow_id in ids))
    found = [
        PendingApproval(workflow_id, state.playbook_id, request)
        for workflow_id, state in zip(ids, states, strict=True)
        if state is not None
        for request in state.pending_approvals
        if incident_id is None or request.incident_id == incident_id
    ]
    silent = [workflow_id for workflow_id, state in zip(ids, states, strict=True) if state is None]
    return PendingApprovals(sorted(found, key=lambda p: (p.request.deadline, p.workflow_id, p.request.step_id)), silent)


async def decide(client: Client, settings: Settings, decision: ApprovalDecision) -> tuple[str, ApprovalReceipt]:
    """Send an approval decision to the run waiting for it: (workflow id, receipt). NotWaiting, RunNotAnswering,
    NotAllowed, or ApprovalRejected (the run's validator refused it: already decided, decided meanwhile ...)."""
    pending = await pending_approvals(client, settings, decision.incident_id)
    waiting = pending.items
    matches = [
        p
        for p in waiting
        if p.request.step_id == decision.step_id and decision.iteration in (None, p.request.iteration)
    ]
    if not matches and pending.silent:
        raise RunNotAnswering(
            f"the playbook run {pending.silent[0]} of incident {decision.incident_id} did not answer: no worker "
            "is serving it right now (one is starting, or none is running); try again shortly"
        )
    if not matches:
        steps = ", ".join(sorted({p.request.step_id for p in waiting})) or "none"
        raise NotWaiting(
            f"step {decision.step_id!r} of incident {decision.incident_id} is not waiting for an approval "
            f"(waiting: {steps})"
        )
    target = matches[0]
    if target.request.eligible(decision.approver, decision.roles) is False:
        # The validator would say the same; checked here too so the API can answer 403 rather than 409.
        raise NotAllowed(target.request.refusal(decision) or "not allowed")
    return target.workflow_id, await runs.send_approval(client, target.workflow_id, decision)
