"""Taking alerts in: fingerprint, correlate, and hand them durably to Temporal, batched per incident."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple

from redis.exceptions import RedisError
from temporalio.client import Client
from temporalio.service import RPCError

from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.models.alert import Alert, AlertEnvelope, fingerprint_event
from xorb_orchestrator.models.ids import incident_id_for
from xorb_orchestrator.models.workflow_io import IncidentInput
from xorb_orchestrator.services.correlation import (
    correlation_time,
    fingerprint,
    key_for,
    next_window,
    window_start,
)
from xorb_orchestrator.services.group_commit import GroupCommit
from xorb_orchestrator.services.incident_client import RPC_TIMEOUT, IncidentClosed, deliver_alerts

log = logging.getLogger(__name__)

# Alerts this process may hold waiting for Temporal before it answers 429: memory stays bounded
# and a slow Temporal pushes back on senders instead of queueing without end.
MAX_IN_FLIGHT = 20_000
MAX_SIGNAL_BYTES = 1024 * 1024
# How many windows ahead to look when the incidents of earlier windows have closed.
MAX_WINDOW_HOPS = 3
# The Temporal client retries an unreachable server for ~10 s whatever the RPC timeout (it bounds
# each attempt, not the retries): a sender waiting for its answer hears "retry later" by this time.
SEND_DEADLINE_SECONDS = RPC_TIMEOUT.total_seconds() + 1


class Overloaded(Exception):
    """Too many alerts are waiting for Temporal; the sender should retry shortly."""


class Delivery(NamedTuple):
    """One alert on its way to an incident, with its encoded size (group commit bounds a signal's bytes)."""

    incident: IncidentInput
    envelope: AlertEnvelope
    size: int


def storable_size(envelope: AlertEnvelope) -> int | str:
    """The envelope's encoded size, once it is known to survive the trip a workflow's signal makes (encoded by
    the data converter, decoded by pydantic in the worker); else why not. An alert answered 202 must never be
    one the worker cannot read: it would be dropped, and with it the rest of its batch."""
    try:
        encoded = envelope.model_dump_json()
        AlertEnvelope.model_validate_json(encoded)
    except (ValueError, RecursionError) as exc:  # pydantic's errors are ValueErrors
        return f"the alert cannot be stored: {str(exc).splitlines()[0]}"
    return len(encoded.encode())


@dataclass
class Outcome:
    status: Literal["accepted", "unavailable", "rejected"]
    incident_id: str | None = None
    duplicate: bool = False
    error: str | None = None


@dataclass
class Accepted:
    incident_id: str
    duplicate: bool


class AlertIntake:
    """One per process: the group commit of concurrent alerts lives here."""

    def __init__(self, client: Client, cache: IncidentCache, settings: Settings) -> None:
        self._client = client
        self._cache = cache
        self._settings = settings
        # A signal's payload must stay under Temporal's 2 MB: batches are bounded in bytes as well as in count.
        self._commit: GroupCommit[Delivery] = GroupCommit(
            self._send, max_bytes=MAX_SIGNAL_BYTES, size=lambda item: item.size
        )
        self._in_flight = 0

    async def _send(self, incident_id: str, items: list[Delivery]) -> None:
        delivery = deliver_alerts(
            self._client, self._settings.temporal_task_queue, items[0].incident, [item.envelope for item in items]
        )
        try:
            await asyncio.wait_for(delivery, SEND_DEADLINE_SECONDS)
        except TimeoutError:
            # Not accepted, so the sender sends it again: if Temporal did record it after all, the
            # workflow counts the re-delivery once (same fingerprint).
            raise TemporalUnavailable(
                f"Temporal is unavailable: no answer within {SEND_DEADLINE_SECONDS:.0f} s"
            ) from None

    async def submit(self, alerts: list[Alert]) -> list[Outcome]:
        """Deliver alerts; each outcome says where its alert went, or that Temporal could not take it.

        Returns only when every accepted alert is durably recorded by Temporal. Re-deliveries known
        to Redis are answered with their incident and not sent again; within an open incident the
        workflow itself drops re-deliveries, so this stays right when Redis is flushed or down.
        """
        if self._in_flight + len(alerts) > MAX_IN_FLIGHT:
            raise Overloaded(f"{self._in_flight} alerts are waiting for Temporal; retry shortly")
        self._in_flight += len(alerts)
        try:
            return await self._submit(alerts)
        finally:
            self._in_flight -= len(alerts)

    async def _submit(self, alerts: list[Alert]) -> list[Outcome]:
        now = datetime.now(UTC)
        queue = self._settings.temporal_task_queue
        prints = [fingerprint(alert) for alert in alerts]
        keys = [key_for(alert, self._settings) for alert in alerts]
        times = [correlation_time(alert, now, self._settings.correlation_clock) for alert in alerts]
        # Deployments sharing one Redis (task queues, like the correlation key's scope) must not
        # answer each other's alerts as duplicates: the remembered fingerprint is scoped too.
        remembered = [f"{queue}/{p}" for p in prints]
        events = [_event_memory(queue, p) for p in prints]
        try:
            known, open_incidents = await self._cache.delivery_facts(remembered + [e for e in events if e], keys)
        except RedisError:
            known, open_incidents = {}, {}
        reused = _reused_event_ids(prints, events, known)

        async def one(index: int) -> Outcome:
            alert, alert_print, seen_as, key = alerts[index], prints[index], remembered[index], keys[index]
            if seen_as in known:
                return Outcome("accepted", known[seen_as], duplicate=True)
            envelope = AlertEnvelope(
                alert=alert, fingerprint=alert_print, received_at=now, reuses_event_id=reused[index]
            )
            size = storable_size(envelope)
            if isinstance(size, str) or size > MAX_SIGNAL_BYTES:
                metrics.ALERTS_REJECTED.labels("invalid").inc()
                too_big = f"the alert is {size} bytes encoded; one alert may be at most {MAX_SIGNAL_BYTES}"
                return Outcome("rejected", error=size if isinstance(size, str) else too_big)
            try:
                incident_id = await self._deliver(key, envelope, size, open_incidents.get(key), times[index])
            except TemporalUnavailable as exc:
                metrics.ALERTS_REJECTED.labels("unavailable").inc()
                return Outcome("unavailable", error=str(exc))
            except RPCError as exc:
                # Not recorded, so not accepted: the sender retries this one; the rest of the request stands.
                log.warning("Temporal refused alerts for %s: %s %s", key, exc.status.name, exc.message)
                metrics.ALERTS_REJECTED.labels("unavailable").inc()
                return Outcome("unavailable", error=f"Temporal did not take the alert: {exc.message}")
            metrics.ALERTS_RECEIVED.labels(alert.source).inc()
            log.debug("alert accepted: %s", alert.title, extra={"incident_id": incident_id})
            return Outcome("accepted", incident_id)

        # The same alert twice in one request is delivered once; the later copies answer as duplicates.
        first_of: dict[str, int] = {}
        for index, seen_as in enumerate(remembered):
            first_of.setdefault(seen_as, index)
        firsts = sorted(set(first_of.values()))
        delivered_once = await asyncio.gather(*(one(i) for i in firsts))
        by_index = dict(zip(firsts, delivered_once, strict=True))
        outcomes = [
            by_index[index] if first_of[seen_as] == index else _repeat_of(by_index[first_of[seen_as]])
            for index, seen_as in enumerate(remembered)
        ]
        fresh = [(i, incident) for i, o in enumerate(outcomes) if not o.duplicate and (incident := o.incident_id)]
        delivered = {remembered[i]: incident for i, incident in fresh}
        # Which alert (fingerprint) carried each event id, to count a later alert that reuses it.
        delivered.update({event: prints[i] for i, _ in fresh if (event := events[i])})
        # The key's open incident chains a storm across windows as it arrives; an alert of a window already
        # over (event clock) went to that window's incident, which later alerts must not join.
        by_key = {keys[i]: incident for i, incident in fresh if not self._window_over(times[i], now)}
        try:
            await self._cache.remember(delivered, by_key, self._settings.correlation_window_seconds)
        except RedisError as exc:
            log.warning("could not record delivered alerts in Redis: %s", exc)
        return outcomes

    def _grace(self) -> timedelta:
        # An incident stays open a little past its window's end, for clocks that disagree.
        return timedelta(seconds=min(30.0, self._settings.correlation_window_seconds))

    def _window_over(self, at: datetime, now: datetime) -> bool:
        """Whether the window of `at` ended (grace included) before `now`: only an alert's own time can say so."""
        window_seconds = self._settings.correlation_window_seconds
        if not window_seconds:
            return False
        return next_window(window_start(at, window_seconds), window_seconds) + self._grace() <= now

    async def _deliver(
        self, key: str, envelope: AlertEnvelope, size: int, cached_incident: str | None, at: datetime
    ) -> str:
        """Send to the key's open incident, else to the incident of the window `at` (the alert's correlation time)
        falls in, else to a later window's; an alert of a window already over goes to that window's (_deliver_late)."""
        window_seconds = self._settings.correlation_window_seconds
        if not window_seconds:
            incident = IncidentInput(incident_id=incident_id_for(key, None), correlation_key=key, linger_seconds=0)
            await self._commit.submit(incident.incident_id, Delivery(incident, envelope, size))
            return incident.incident_id
        if self._window_over(at, envelope.received_at):
            return await self._deliver_late(key, envelope, size, window_start(at, window_seconds))
        if cached_incident:
            # Close-not-before is moot here: the incident exists, or it closed and we move on.
            cached = IncidentInput(
                incident_id=cached_incident,
                correlation_key=key,
                linger_seconds=window_seconds,
                close_not_before=envelope.received_at,
            )
            try:
                await self._commit.submit(cached_incident, Delivery(cached, envelope, size))
                return cached_incident
            except IncidentClosed:
                pass
        # Stay open until the window ends (plus a little for clocks that disagree), so an alert whose
        # window id names this incident always finds it open.
        grace = self._grace()
        window = window_start(at, window_seconds)
        for _ in range(MAX_WINDOW_HOPS):
            window_end = next_window(window, window_seconds)
            incident = IncidentInput(
                incident_id=incident_id_for(key, window),
                correlation_key=key,
                linger_seconds=window_seconds,
                close_not_before=window_end + grace,
            )
            try:
                await self._commit.submit(incident.incident_id, Delivery(incident, envelope, size))
                return incident.incident_id
            except IncidentClosed:
                window = window_end
        raise TemporalUnavailable(f"the incidents of {MAX_WINDOW_HOPS} windows for key {key} have all closed")

    async def _deliver_late(self, key: str, envelope: AlertEnvelope, size: int, window: datetime) -> str:
        """An alert that happened in a window already over (event clock: a replayed file, a catch-up after an
        outage) joins that window's incident while it lingers; once it has closed, a new run of the same id takes
        the alert (and first asks the earlier run whether it is a re-delivery). Without close-not-before the
        incident lingers a window after its last alert arrives, and a closed id may start again."""
        incident = IncidentInput(
            incident_id=incident_id_for(key, window),
            correlation_key=key,
            linger_seconds=self._settings.correlation_window_seconds,
        )
        await self._commit.submit(incident.incident_id, Delivery(incident, envelope, size))
        return incident.incident_id


def _event_memory(queue: str, alert_print: str) -> str | None:
    """The cache entry that remembers which alert carried this fingerprint's event id (None without one)."""
    event = fingerprint_event(alert_print)
    return f"{queue}/event/{event}" if event else None


def _reused_event_ids(prints: list[str], events: list[str | None], known: dict[str, str]) -> list[bool]:
    """For each alert, whether its event id came before on an alert with other content (remembered in the cache,
    or earlier in this request). Best effort: the incident also counts those it sees itself."""
    carried = dict(known)
    reused = []
    for alert_print, event in zip(prints, events, strict=True):
        earlier = carried.setdefault(event, alert_print) if event else alert_print
        reused.append(earlier != alert_print)
    return reused


def _repeat_of(first: Outcome) -> Outcome:
    if first.status != "accepted":
        return first
    return Outcome("accepted", first.incident_id, duplicate=True)


async def submit_alert(client: Client, cache: IncidentCache, settings: Settings, alert: Alert) -> Accepted:
    """One alert, without group commit (tests and tools); raises TemporalUnavailable, or ValueError when the
    alert cannot be stored."""
    (outcome,) = await AlertIntake(client, cache, settings).submit([alert])
    if outcome.status == "rejected":
        raise ValueError(outcome.error)
    if outcome.status != "accepted" or outcome.incident_id is None:
        raise TemporalUnavailable(outcome.error or "Temporal could not take the alert")
    return Accepted(outcome.incident_id, outcome.duplicate)
