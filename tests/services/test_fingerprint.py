"""What counts as one alert delivered twice, and which time an alert correlates on (pure, no stack).

Issue 14, item 8: the sender's event id alone is no identity (Wazuh's sample generator gives every alert one id);
item 12: `XORB_CORRELATION_CLOCK=event` correlates on the alert's own time, within bounds.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from xorb_orchestrator.models.alert import Alert, fingerprint_event
from xorb_orchestrator.services.correlation import MAX_EVENT_TIME_AHEAD, correlation_time, fingerprint
from xorb_orchestrator.sources import parse_event

ARRIVAL = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def wazuh(**changes: Any) -> dict[str, Any]:
    """A Wazuh alert in the shape of Wazuh's sample generator (every alert carries the same `id`)."""
    event: dict[str, Any] = {
        "timestamp": "2026-12-07T09:58:12.000+0000",
        "rule": {"level": 10, "description": "sshd: brute force trying to get access", "id": "5712"},
        "agent": {"id": "007", "name": "web-07", "ip": "10.9.0.7"},
        "id": "1580123327.49031",
        "data": {"srcip": "198.51.100.23", "srcuser": "root"},
    }
    event.update(changes)
    return event


def alert_of(event: dict[str, Any]) -> Alert:
    alert = parse_event("wazuh", event)
    assert alert is not None
    return alert


def test_same_event_id_with_other_content_is_another_alert() -> None:
    first = alert_of(wazuh())
    other = alert_of(wazuh(rule={"level": 3, "description": "Login session opened.", "id": "5501"}))
    assert first.event_id == other.event_id
    assert fingerprint(first) != fingerprint(other)
    # ... that the incident can tell reused the id.
    assert fingerprint_event(fingerprint(first)) == fingerprint_event(fingerprint(other)) is not None


def test_redelivery_counts_once_though_a_shipper_added_its_receive_time() -> None:
    sent = wazuh()
    shipped = copy.deepcopy(sent)
    shipped["@timestamp"] = "2026-12-07T09:58:14.771Z"  # what Filebeat adds when it forwards the line
    shipped["event"] = {"ingested": "2026-12-07T09:58:15.002Z"}
    assert fingerprint(alert_of(sent)) == fingerprint(alert_of(shipped))


def test_without_an_event_id_the_content_is_the_identity() -> None:
    event = wazuh()
    del event["id"]
    alert = alert_of(event)
    assert fingerprint_event(fingerprint(alert)) is None
    assert fingerprint(alert) == fingerprint(alert_of(copy.deepcopy(event)))


def happened(at: datetime | None) -> Alert:
    return Alert(source="generic", title="Port scan", severity="low", time=at)


@pytest.mark.parametrize(
    ("clock", "at", "expected"),
    [
        ("arrival", ARRIVAL - timedelta(hours=2), ARRIVAL),
        ("event", ARRIVAL - timedelta(hours=2), ARRIVAL - timedelta(hours=2)),
        ("event", datetime(1999, 3, 1, tzinfo=UTC), datetime(1999, 3, 1, tzinfo=UTC)),
        ("event", ARRIVAL + MAX_EVENT_TIME_AHEAD, ARRIVAL + MAX_EVENT_TIME_AHEAD),  # a drifting clock
        ("event", ARRIVAL + MAX_EVENT_TIME_AHEAD + timedelta(seconds=1), ARRIVAL),  # a broken one
        ("event", datetime(9999, 12, 31, tzinfo=UTC), ARRIVAL),
        ("event", datetime(1969, 12, 31, 23, 59, tzinfo=UTC), ARRIVAL),
        ("event", None, ARRIVAL),  # no time of its own
    ],
    ids=["arrival", "event", "years-ago", "slightly-ahead", "too-far-ahead", "year-9999", "before-1970", "no-time"],
)
def test_correlation_time(clock: Any, at: datetime | None, expected: datetime) -> None:
    assert correlation_time(happened(at), ARRIVAL, clock) == expected
