"""Which incident an alert belongs to, and whether we have seen this exact alert before."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from xorb_orchestrator.config.settings import DEFAULT_CORRELATION_FIELDS, Settings
from xorb_orchestrator.models.alert import Alert
from xorb_orchestrator.models.observable import ObservableType


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


def _field_value(alert: Alert, field: str) -> str:
    if field == "primary":
        primary = alert.primary_observable()
        return f"{primary.type}:{primary.value}" if primary else ""
    if field in ("source", "title", "product"):
        return str(getattr(alert, field) or "")
    if field == "rule":
        return alert.rule or alert.title
    role = {"src_ip": "src", "dest_ip": "dest"}.get(field)
    kind = ObservableType.IP if role else ObservableType(field)
    values = sorted({o.value for o in alert.observables if o.type is kind and (role is None or o.role == role)})
    return ",".join(values)


def correlation_key(alert: Alert, fields: tuple[str, ...] = DEFAULT_CORRELATION_FIELDS, scope: str = "") -> str:
    """Alerts with the same key form one incident. The default key is source + rule + primary observable.

    `scope` (the task queue) keeps deployments that share a Temporal namespace apart.
    """
    return _digest(scope, alert.source, *(f"{f}={_field_value(alert, f)}" for f in fields))


def key_for(alert: Alert, settings: Settings) -> str:
    """The alert's correlation key under these settings (its source's key fields, its task queue)."""
    fields = settings.correlation_fields.get(alert.source, DEFAULT_CORRELATION_FIELDS)
    return correlation_key(alert, fields, scope=settings.temporal_task_queue)


def window_start(received: datetime, window_seconds: float) -> datetime:
    """Start of the fixed window `received` falls in (windows are aligned to the Unix epoch)."""
    epoch = received.timestamp()
    return datetime.fromtimestamp(epoch - epoch % window_seconds, UTC).replace(microsecond=0)


def next_window(window: datetime, window_seconds: float) -> datetime:
    return window + timedelta(seconds=window_seconds)
