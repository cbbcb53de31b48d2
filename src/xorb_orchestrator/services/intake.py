"""Taking an alert in: fingerprint it, find its incident, hand it durably to Temporal."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.exceptions import RedisError
from temporalio.client import Client

from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.infrastructure.incident_client import deliver_alert
from xorb_orchestrator.models.alert import Alert, AlertEnvelope
from xorb_orchestrator.models.workflow_io import IncidentInput
from xorb_orchestrator.services.correlation import correlation_key, fingerprint

log = logging.getLogger(__name__)


@dataclass
class Accepted:
    incident_id: str
    duplicate: bool


async def submit_alert(client: Client, cache: IncidentCache, settings: Settings, alert: Alert) -> Accepted:
    """Deliver one alert to its incident. Returns only after Temporal holds it.

    An alert whose fingerprint we already delivered (per the Redis record kept after each delivery)
    is answered with its incident and not delivered again: that covers re-deliveries after the
    incident closed. Within an open incident the workflow itself drops re-deliveries, so this
    stays correct when Redis is flushed or down.
    """
    alert_print = fingerprint(alert)
    try:
        known = await cache.seen_alert(alert_print)
    except RedisError:
        known = None
    if known:
        return Accepted(incident_id=known, duplicate=True)
    key = correlation_key(alert)
    incident_id = "incident-" + key
    envelope = AlertEnvelope(alert=alert, fingerprint=alert_print, received_at=datetime.now(UTC))
    await deliver_alert(
        client,
        settings.temporal_task_queue,
        IncidentInput(
            incident_id=incident_id, correlation_key=key, linger_seconds=settings.incident_linger_seconds
        ),
        envelope,
    )
    metrics.ALERTS_RECEIVED.labels(alert.source).inc()
    try:
        await cache.remember_alert(alert_print, incident_id)
    except RedisError as exc:
        log.warning(
            "could not record alert fingerprint in Redis: %s", exc, extra={"incident_id": incident_id}
        )
    log.info("alert accepted: %s", alert.title, extra={"incident_id": incident_id})
    return Accepted(incident_id=incident_id, duplicate=False)
