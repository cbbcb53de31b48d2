"""Correlation: which alerts form one incident, and re-deliveries counted once, on the real stack.

With a correlation window (600 s here) alerts with the same key (default: rule + primary
observable) join one incident whose id names the key and the window; an exact re-delivery (same
event id, or same content) counts once whether Redis remembers it or only the workflow does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from temporalio.testing import WorkflowEnvironment

from tests.support.stack import RedisServer, RunningService, dev_temporal, make_settings, service
from xorb_orchestrator.config import SettingsError, load_settings
from xorb_orchestrator.infrastructure.ports import free_port
from xorb_orchestrator.models.ids import incident_id_for
from xorb_orchestrator.services.correlation import key_for, window_start
from xorb_orchestrator.sources.generic_alert import GenericAlert
from xorb_orchestrator.workflows.incident.state import MAX_SAMPLES
from xorb_orchestrator.workflows.incident.workflow import IncidentWorkflow

pytestmark = pytest.mark.timeout(60)  # async tests run in the session loop (pyproject)

WINDOW = 600
SOURCE = "correlation-" + uuid.uuid4().hex[:8]
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(temporal_address: str, redis_server: RedisServer) -> AsyncIterator[RunningService]:
    settings = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=WINDOW)
    async with service(settings) as running:
        yield running
        await responses_done(running)


# The incidents each service opened. A service waits for their responses before it stops, so that
# no incident is left half-done (uncached, unanswerable) in the session's Temporal for later tests.
OPENED: dict[str, set[str]] = {}


async def responses_done(svc: RunningService) -> None:
    for incident_id in sorted(OPENED.pop(svc.settings.temporal_task_queue, set())):
        await svc.wait_for_incident(incident_id)


def alert(rule: str, src_ip: str = "10.0.0.5", **changes: Any) -> dict[str, Any]:
    """A generic alert with its own event id (a distinct alert, not a re-delivery)."""
    body: dict[str, Any] = {
        "id": "evt-" + uuid.uuid4().hex,
        "title": f"Port scan ({rule})",
        "severity": "medium",
        "source": SOURCE,
        "rule": rule,
        "observables": {"src_ip": src_ip},
        "techniques": ["T1046"],
    }
    body.update(changes)
    return body


def expected_incident(body: dict[str, Any], svc: RunningService) -> str:
    """The incident intake gives this alert now: `incident-<key>-<window start>`."""
    key = key_for(GenericAlert.model_validate(body).to_alert(), svc.settings)
    return incident_id_for(key, window_start(datetime.now(UTC), WINDOW))


async def clear_of_window_edge(needed: float = 10.0) -> None:
    """Windows are aligned to the epoch. A test whose first alerts may race (concurrent, or after
    a Redis flush) must not straddle two windows: if this one ends within `needed` s, wait for the next."""
    left = WINDOW - time.time() % WINDOW
    if left < needed:
        await asyncio.sleep(left + 0.5)


async def post(svc: RunningService, body: dict[str, Any]) -> dict[str, Any]:
    response = await svc.http.post("/v1/alerts", json=body)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    opened(svc, answer)
    return answer


def opened(svc: RunningService, *answers: dict[str, Any]) -> None:
    OPENED.setdefault(svc.settings.temporal_task_queue, set()).update(a["incident_id"] for a in answers)


def observed(view: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(o["type"], o["value"], o["role"]) for o in view["observables"]]


def at(minutes: int) -> str:
    return (datetime(2024, 6, 6, 9, 0, tzinfo=UTC) + timedelta(minutes=minutes)).isoformat()


# --- one key, one incident ------------------------------------------------------------------------


async def test_alerts_with_the_same_key_form_one_incident(svc: RunningService) -> None:
    rule = "corr-same-key"
    # Eight distinct alerts of one scan: same rule and source IP, each to another target, out of order.
    minutes = [5, 1, 7, 3, 0, 6, 2, 4]
    bodies = [
        alert(
            rule,
            observables={"src_ip": "10.0.0.5", "dest_ip": f"198.51.100.{10 + m}"},
            time=at(m),
            raw={"seq": m, "pad": "x" * 100},
        )
        for m in minutes
    ]
    # Three one after another, then five at once (NDJSON batch and single POSTs racing).
    answers = [await post(svc, body) for body in bodies[:3]]
    ndjson = b"\n".join(json.dumps(b).encode() for b in bodies[3:5])
    batch, *singles = await asyncio.gather(
        svc.http.post("/v1/alerts/generic", content=ndjson, headers=NDJSON),
        *(svc.http.post("/v1/alerts", json=b) for b in bodies[5:]),
    )
    assert batch.status_code == 202, batch.text
    assert [r["status"] for r in batch.json()["results"]] == ["accepted", "accepted"]
    assert all(r.status_code == 202 for r in singles), [r.text for r in singles]
    answers += batch.json()["results"] + [r.json() for r in singles]
    opened(svc, *answers)

    incident_ids = {a["incident_id"] for a in answers}
    assert len(incident_ids) == 1, answers
    (incident_id,) = incident_ids
    assert re.fullmatch(r"incident-[0-9a-f]{24}-\d{8}T\d{6}", incident_id)
    assert not any(a["duplicate"] for a in answers)

    view = await svc.wait_for_view(incident_id, lambda v: v["alert_count"] == len(bodies), timeout=15)
    assert view["duplicate_count"] == 0
    assert datetime.fromisoformat(view["first_seen"]) == datetime.fromisoformat(at(0))
    assert datetime.fromisoformat(view["last_seen"]) == datetime.fromisoformat(at(7))
    # The distinct observables: the one scanner and each of its eight targets, each once.
    assert sorted(observed(view)) == sorted(
        [("ip", "10.0.0.5", "src")] + [("ip", f"198.51.100.{10 + m}", "dest") for m in minutes]
    )
    # A bounded sample of the raw alerts as sent, starting with the first to arrive.
    assert len(view["samples"]) == MAX_SAMPLES <= 5
    assert view["samples"][0] == bodies[0]["raw"]
    assert all(sample in [b["raw"] for b in bodies] for sample in view["samples"])
    assert view["techniques"] == ["T1046"]


async def test_another_rule_or_another_source_ip_is_another_incident(svc: RunningService) -> None:
    base = await post(svc, alert("corr-split-a", "10.1.0.1"))
    other_rule = await post(svc, alert("corr-split-b", "10.1.0.1"))
    other_src = await post(svc, alert("corr-split-a", "10.1.0.2"))
    joins = await post(svc, alert("corr-split-a", "10.1.0.1"))

    assert len({base["incident_id"], other_rule["incident_id"], other_src["incident_id"]}) == 3
    assert joins["incident_id"] == base["incident_id"]
    await svc.wait_for_view(base["incident_id"], lambda v: v["alert_count"] == 2, timeout=15)
    for single in (other_rule, other_src):
        view = await svc.wait_for_view(single["incident_id"], lambda v: v["alert_count"] >= 1, timeout=15)
        assert view["alert_count"] == 1


# --- re-deliveries ----------------------------------------------------------------------------------


@pytest.mark.parametrize("with_event_id", [True, False], ids=["event-id", "content-hash"])
async def test_same_alert_five_times_counts_once(svc: RunningService, with_event_id: bool) -> None:
    body = alert(f"corr-dup-{with_event_id}", "10.2.0.1")
    if not with_event_id:
        del body["id"]
    answers = [await post(svc, body) for _ in range(5)]
    assert {a["incident_id"] for a in answers} == {expected_incident(body, svc)}
    # Redis knows the fingerprint after the first: the other four are answered without a Temporal call.
    assert [a["duplicate"] for a in answers] == [False, True, True, True, True]
    view = await svc.wait_for_view(answers[0]["incident_id"], lambda v: v["alert_count"] >= 1, timeout=15)
    assert (view["alert_count"], view["duplicate_count"]) == (1, 0)


async def test_same_alert_twice_in_one_request_answers_the_copy_as_duplicate(svc: RunningService) -> None:
    body = alert("corr-dup-in-request", "10.2.0.3")
    response = await svc.http.post("/v1/alerts/generic", json=[body, body, {**body, "id": body["id"] + "-2"}])
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["duplicate"] for r in results] == [False, True, False]
    assert len({r["incident_id"] for r in results}) == 1
    view = await svc.wait_for_view(results[0]["incident_id"], lambda v: v["alert_count"] == 2, timeout=15)
    assert (view["alert_count"], view["duplicate_count"]) == (2, 0)


@pytest.mark.parametrize("with_event_id", [True, False], ids=["event-id", "content-hash"])
async def test_same_alert_five_times_at_once_counts_once(svc: RunningService, with_event_id: bool) -> None:
    await clear_of_window_edge()
    body = alert(f"corr-dup-concurrent-{with_event_id}", "10.2.0.2")
    if not with_event_id:
        del body["id"]
    responses = await asyncio.gather(*(svc.http.post("/v1/alerts", json=body) for _ in range(5)))
    assert [r.status_code for r in responses] == [202] * 5
    answers = [r.json() for r in responses]
    opened(svc, *answers)
    assert {a["incident_id"] for a in answers} == {expected_incident(body, svc)}
    # All five may pass the Redis check before any is recorded; those reach the workflow, which
    # drops all but one by fingerprint. Wait until it has seen every one that was sent to it.
    sent = sum(1 for a in answers if not a["duplicate"])
    view = await svc.wait_for_view(
        answers[0]["incident_id"], lambda v: v["alert_count"] + v["duplicate_count"] == sent, timeout=15
    )
    assert view["alert_count"] == 1
    assert view["duplicate_count"] == sent - 1


async def test_redelivery_after_redis_flush_is_counted_once_by_the_workflow(
    tmp_path: Path,
) -> None:
    """Redis is only a cache: with it flushed before every re-delivery, the workflow still knows.

    On a Temporal and a Redis of its own: flushing the session's Redis would drop the cached views
    of every other module's incidents, whose workers are gone by then.
    """
    own_redis = RedisServer(tmp_path)
    redis = aioredis.Redis.from_url(own_redis.url)
    try:
        async with own_temporal() as env:
            address = str(env.client.service_client.config.target_host)
            settings = make_settings(address, own_redis.url, XORB_CORRELATION_WINDOW_SECONDS=WINDOW)
            async with service(settings) as svc:
                await clear_of_window_edge()
                body = alert("corr-dup-flushed", "10.2.0.3")
                answers = [await post(svc, body)]
                for _ in range(4):
                    await redis.flushall()
                    answers.append(await post(svc, body))
                assert {a["incident_id"] for a in answers} == {expected_incident(body, svc)}
                # Redis forgot every time, so the API could not tell: all five were sent to Temporal.
                assert [a["duplicate"] for a in answers] == [False] * 5
                view = await svc.wait_for_view(
                    answers[0]["incident_id"], lambda v: v["duplicate_count"] == 4, timeout=15
                )
                assert view["alert_count"] == 1
                await responses_done(svc)
    finally:
        await redis.aclose()
        own_redis.stop()


@contextlib.asynccontextmanager
async def own_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server of the test's own, for what must not reach the session's namespace
    (which other modules list in full): flushed caches, several runs of one incident id."""
    async with dev_temporal() as env:
        yield env


async def test_a_redelivery_known_to_another_deployment_is_new_here(
    svc: RunningService, temporal_address: str, redis_server: RedisServer
) -> None:
    """Two deployments (task queues) sharing Redis and Temporal: one's alerts are not the other's duplicates."""
    body = alert("corr-two-deployments", "10.3.0.1")
    first = await post(svc, body)
    other = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=WINDOW)
    async with service(other) as neighbour:
        second = await post(neighbour, body)
        assert second["duplicate"] is False
        assert second["incident_id"] == expected_incident(body, neighbour) != first["incident_id"]
        view = await neighbour.wait_for_view(second["incident_id"], lambda v: v["alert_count"] >= 1, timeout=15)
        assert view["alert_count"] == 1
        await responses_done(neighbour)


# --- configurable keys ------------------------------------------------------------------------------


async def test_correlation_keys_setting_rule_only_merges_source_ips(
    temporal_address: str, redis_server: RedisServer
) -> None:
    settings = make_settings(
        temporal_address,
        redis_server.url,
        XORB_CORRELATION_WINDOW_SECONDS=WINDOW,
        XORB_CORRELATION_KEYS="generic=rule",
    )
    async with service(settings) as svc:
        # Source `generic` (the default of the generic format): keyed on the rule only.
        merged = [await post(svc, alert("corr-rule-only", src, source="generic")) for src in ("10.4.0.1", "10.4.0.2")]
        assert merged[0]["incident_id"] == merged[1]["incident_id"]
        view = await svc.wait_for_view(merged[0]["incident_id"], lambda v: v["alert_count"] == 2, timeout=15)
        assert {o for o in observed(view)} == {("ip", "10.4.0.1", "src"), ("ip", "10.4.0.2", "src")}
        # Any other source keeps the default key (rule + primary observable).
        split = [await post(svc, alert("corr-rule-only", src)) for src in ("10.4.0.1", "10.4.0.2")]
        assert split[0]["incident_id"] != split[1]["incident_id"]
        await responses_done(svc)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("generic", "expected source=field,field"),
        ("generic=rule,colour", "unknown field 'colour'"),
        ("suricata=", "expected source=field,field"),
    ],
)
def test_bad_correlation_keys_fail_settings_in_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str, words: str
) -> None:
    monkeypatch.setenv("XORB_CORRELATION_KEYS", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert "XORB_CORRELATION_KEYS" in message and words in message, message


def test_bad_correlation_keys_stop_the_service_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("TEMPORAL_", "XORB_", "REDIS_"))}
    env.update(
        XORB_API_KEYS="k",
        XORB_API_PORT=str(free_port()),
        TEMPORAL_HOST=f"127.0.0.1:{free_port()}",  # nothing listens: a slipped-through value fails elsewhere
        TEMPORAL_CONNECT_TIMEOUT="3",
        XORB_CORRELATION_KEYS="wazuh=rule;suricata",
    )
    xorb = Path(sys.executable).with_name("xorb")
    result = subprocess.run([str(xorb), "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("xorb: error: ") and "XORB_CORRELATION_KEYS" in lines[0], lines[0]
    assert "'suricata'" in lines[0]


async def test_without_a_window_the_next_run_of_an_incident_is_what_the_api_shows(
    redis_server: RedisServer,
) -> None:
    """Without a correlation window an incident closes after its response, and the next alert with
    its key starts a new run of the same id: GET must show that run, not the closed one."""
    async with (
        own_temporal() as env,
        service(make_settings(str(env.client.service_client.config.target_host), redis_server.url)) as svc,
    ):
        temporal_client = env.client
        first = await post(svc, alert("corr-next-run", "10.8.0.1", severity="low"))
        await svc.wait_for_incident(first["incident_id"])
        second = await post(svc, alert("corr-next-run", "10.8.0.1", severity="critical"))
        assert second["incident_id"] == first["incident_id"]
        handle = temporal_client.get_workflow_handle(first["incident_id"])
        deadline = time.monotonic() + 15
        while True:  # the new run, read from Temporal itself
            state = await handle.query(IncidentWorkflow.state)
            if state is not None and state.severity == "critical" and state.status.finished:
                break
            assert time.monotonic() < deadline, state
            await asyncio.sleep(0.2)
        await responses_done(svc)
        shown = (await svc.http.get(f"/v1/incidents/{first['incident_id']}")).json()
        assert shown["severity"] == "critical", shown
