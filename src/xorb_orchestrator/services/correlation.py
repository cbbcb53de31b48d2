"""Which incident an alert belongs to, and whether we have seen this exact alert before."""

from __future__ import annotations

import hashlib
import json

from xorb_orchestrator.models.alert import Alert

INCIDENT_PREFIX = "incident-"


def _digest(*parts: str, length: int = 24) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def fingerprint(alert: Alert) -> str:
    """Identity of one delivery: the sender's event id when it gave one, else the alert's content.

    A detector that re-sends an alert (retry, replay, at-least-once delivery) sends the same id or
    the same content, so both map to the same fingerprint and the alert counts once.
    """
    if alert.event_id:
        return _digest("id", alert.source, alert.event_id)
    content = alert.model_dump(mode="json", exclude={"raw"})
    content["raw"] = alert.raw
    return _digest("content", json.dumps(content, sort_keys=True, default=str))


def correlation_key(alert: Alert) -> str:
    """Alerts with the same key form one incident: same source, same rule, same primary observable."""
    primary = alert.primary_observable()
    return _digest(
        alert.source,
        alert.rule or alert.title,
        f"{primary.type}:{primary.value}" if primary else "",
    )


def incident_id_for(alert: Alert) -> str:
    return INCIDENT_PREFIX + correlation_key(alert)
