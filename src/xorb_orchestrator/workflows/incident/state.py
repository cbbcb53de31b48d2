"""How an incident's view changes as alerts arrive: pure functions the workflow calls."""

from __future__ import annotations

from datetime import datetime

from xorb_orchestrator.models.alert import AlertEnvelope
from xorb_orchestrator.models.incident import IncidentStatus, IncidentView
from xorb_orchestrator.models.severity import Severity

# The view travels in queries, cache writes and continue-as-new: bounded in bytes by these (about 0.7 MB at
# most: 500 observables of at most 1 KiB, 5 samples of at most 16 KiB, 5,000 fingerprints).
MAX_OBSERVABLES = 500
MAX_OBSERVABLE_CHARS = 1024  # longer values stay in the alert's raw event, not in the incident's list
MAX_TECHNIQUES = 200
MAX_FINGERPRINTS = 5_000
MAX_SAMPLES = 5
# A closed incident's memo keeps its most recent fingerprints (~27 KB) for newer incidents of its key to read.
MEMO_FINGERPRINTS = 1_000
MAX_REDELIVERY_SOURCES = 10


def open_incident(incident_id: str, key: str, first: AlertEnvelope, now: datetime) -> IncidentView:
    alert = first.alert
    seen = alert.time or first.received_at
    return IncidentView(
        incident_id=incident_id,
        correlation_key=key,
        status=IncidentStatus.OPEN,
        severity=alert.severity.label,
        severity_id=int(alert.severity),
        title=alert.title,
        source=alert.source,
        rule=alert.rule,
        alert_count=1,
        first_seen=seen,
        last_seen=seen,
        created_at=first.received_at,
        updated_at=now,
        observables=[o for o in alert.observables if len(o.value) <= MAX_OBSERVABLE_CHARS][:MAX_OBSERVABLES],
        techniques=list(dict.fromkeys(alert.techniques))[:MAX_TECHNIQUES],
        samples=[alert.raw] if alert.raw else [],
    )


def observable_keys(view: IncidentView) -> set[tuple[str, str, str | None]]:
    """The identities of the incident's observables, kept by the workflow so each alert costs O(its own)."""
    return {(o.type, o.value, o.role) for o in view.observables}


def add_alert(
    view: IncidentView, envelope: AlertEnvelope, now: datetime, known: set[tuple[str, str, str | None]]
) -> None:
    """Fold one more (new, not re-delivered) alert into the incident; `known` is observable_keys(view)."""
    alert = envelope.alert
    seen = alert.time or envelope.received_at
    view.alert_count += 1
    view.first_seen = min(view.first_seen, seen)
    view.last_seen = max(view.last_seen, seen)
    if int(alert.severity) > view.severity_id:
        view.severity_id = int(alert.severity)
        view.severity = Severity(view.severity_id).label
    for obs in alert.observables:
        if len(view.observables) >= MAX_OBSERVABLES:
            break
        if len(obs.value) <= MAX_OBSERVABLE_CHARS and (obs.type, obs.value, obs.role) not in known:
            known.add((obs.type, obs.value, obs.role))
            view.observables.append(obs)
    for technique in alert.techniques:
        if len(view.techniques) >= MAX_TECHNIQUES:
            break
        if technique not in view.techniques:
            view.techniques.append(technique)
    if alert.raw and len(view.samples) < MAX_SAMPLES:
        view.samples.append(alert.raw)
    view.updated_at = now


def remember(fingerprints: dict[str, None], fingerprint: str) -> None:
    """Keep a bounded window of recent fingerprints (oldest dropped) for re-delivery detection."""
    fingerprints[fingerprint] = None
    while len(fingerprints) > MAX_FINGERPRINTS:
        del fingerprints[next(iter(fingerprints))]


def reopen_from(shell: IncidentView, first: AlertEnvelope, now: datetime) -> IncidentView:
    """An incident that so far held only re-deliveries of earlier ones, opened by its first new alert."""
    view = open_incident(shell.incident_id, shell.correlation_key, first, now)
    view.duplicate_count, view.redelivery_of = shell.duplicate_count, shell.redelivery_of
    view.reused_id_count = shell.reused_id_count
    view.created_at = shell.created_at
    return view
