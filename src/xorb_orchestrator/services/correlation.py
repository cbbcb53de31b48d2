"""Which incident an alert belongs to, and whether we have seen this exact alert before."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

from xorb_orchestrator.config.settings import DEFAULT_CORRELATION_FIELDS, CorrelationClock, Settings
from xorb_orchestrator.models.alert import FINGERPRINT_PARTS, Alert
from xorb_orchestrator.models.observable import ObservableType

# How far ahead of its arrival an alert's own time may lie for the `event` clock (clocks of senders drift).
MAX_EVENT_TIME_AHEAD = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _digest(*parts: str, length: int = 24) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def fingerprint(alert: Alert) -> str:
    """Identity of one delivery: the sender's event id with the alert's content, else the content alone.

    A detector that re-sends an alert (retry, replay, at-least-once delivery) sends the same id and the same
    content, so the alert counts once. The same id with other content is another alert (Wazuh's sample generator
    gives every alert one id): `<event>.<content>` keeps both and lets the incident count the reused id. With an id,
    the content is what the adapter read, not `raw`: a shipper may add its own fields (a receive time) to the event
    it forwards, and a re-delivery must still count once.
    """
    if alert.event_id:
        event = _digest("id", alert.source, alert.event_id, length=12)
        read = json.dumps(alert.model_dump(mode="json", exclude={"raw"}), sort_keys=True, default=str)
        return f"{event}{FINGERPRINT_PARTS}{_digest('content', read, length=12)}"
    content = alert.model_dump(mode="json", exclude={"raw"})
    content["raw"] = alert.raw
    return _digest("content", json.dumps(content, sort_keys=True, default=str))


def correlation_time(alert: Alert, received_at: datetime, clock: CorrelationClock) -> datetime:
    """The time whose correlation window the alert's incident is: its arrival, or with the `event` clock its own
    time. An alert without a time, or with one before 1970 or more than MAX_EVENT_TIME_AHEAD after its arrival (a
    sender's clock gone wrong: its incident would wait for a window in the future), correlates on its arrival."""
    event_time = alert.time
    if clock != "event" or event_time is None:
        return received_at
    if not EPOCH <= event_time <= received_at + MAX_EVENT_TIME_AHEAD:
        return received_at
    return event_time


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


def window_start(at: datetime, window_seconds: float) -> datetime:
    """Start of the fixed window `at` falls in (windows are aligned to the Unix epoch)."""
    epoch = at.timestamp()
    return datetime.fromtimestamp(epoch - epoch % window_seconds, UTC).replace(microsecond=0)


def next_window(window: datetime, window_seconds: float) -> datetime:
    return window + timedelta(seconds=window_seconds)
