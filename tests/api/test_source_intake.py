"""POST /v1/alerts/{source}: each detector's real-shaped events, as one object, an array or NDJSON.

Every alert of tests/data/sources/<source>/ must become an incident with the right severity,
observables and ATT&CK ids; a malformed event is rejected with the JSON path of its bad field
while the rest of its batch is accepted; non-alert events are ignored and counted.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client

from tests.support.paths import DATA as DATA_DIR
from tests.support.stack import RedisServer, RunningService, make_settings, service
from xorb_orchestrator.models.alert import Alert
from xorb_orchestrator.sources import SOURCES, parse_event

pytestmark = pytest.mark.timeout(60)

DATA = DATA_DIR / "sources"
NDJSON = "application/x-ndjson"
RUN = uuid.uuid4().hex[:12]
# Every incident this module's accepted alerts went to; nothing else may exist on its task queue.
ACCEPTED_INCIDENTS: set[str] = set()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(temporal_address: str, redis_server: RedisServer) -> AsyncIterator[RunningService]:
    # With a correlation window the three shapes of one fixture join one open incident, instead of
    # closed incidents being started again (several runs of one id, which other modules list).
    settings = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=600)
    async with service(settings) as running:
        yield running
        # Leave no incident half-done (its view uncached, no worker to answer) for later modules.
        for incident_id in sorted(ACCEPTED_INCIDENTS):
            await running.wait_for_incident(incident_id)


# --- the fixtures, made unique per test ---------------------------------------------------------------


def load(source: str, name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((DATA / source / f"{name}.json").read_text())
    return event


def fixtures(source: str) -> dict[str, dict[str, Any]]:
    return {path.stem: load(source, path.stem) for path in sorted((DATA / source).glob("*.json"))}


def alert_fixtures(source: str) -> dict[str, dict[str, Any]]:
    """The fixtures of `source` that are alerts (Suricata's flow, dns and stats events are not)."""
    return {name: event for name, event in fixtures(source).items() if parse_event(source, event) is not None}


def stamp(source: str, event: dict[str, Any], tag: str) -> dict[str, Any]:
    """A copy with its own event id, so each test's alerts are new alerts, not re-deliveries."""
    out = copy.deepcopy(event)
    unique = f"{RUN}-{tag}"
    if source in ("generic", "wazuh"):
        out["id"] = unique
    elif source == "suricata":  # no event id in EVE: flow id + time + rule identify an alert
        out["flow_id"] = int(uuid.uuid4().int % 10**15)
    elif source == "ecs":
        doc = out["_source"] if isinstance(out.get("_source"), dict) else out
        doc["kibana.alert.uuid"] = unique
    elif source == "ocsf":
        out.setdefault("metadata", {})["uid"] = unique
    return out


def ndjson(events: list[Any]) -> bytes:
    return b"\n".join(e if isinstance(e, bytes) else json.dumps(e).encode() for e in events) + b"\n"


def adapted(source: str, event: dict[str, Any]) -> Alert:
    alert = parse_event(source, event)
    assert alert is not None
    return alert


# What each source's documented example (example.json) must become, written out by hand.
EXAMPLES: dict[str, tuple[str, list[tuple[str, str, str | None]], list[str]]] = {
    "generic": (
        "high",
        [
            ("ip", "10.0.0.5", "src"),
            ("ip", "203.0.113.10", "dest"),
            ("port", "443", "dest"),
            ("domain", "c2.example", None),
        ],
        ["T1071.001"],
    ),
    "suricata": (
        "high",
        [
            ("ip", "10.1.4.23", "src"),
            ("ip", "198.51.100.77", "dest"),
            ("port", "80", "dest"),
            ("domain", "update.cdn-check.example", None),
            ("url", "http://update.cdn-check.example/gate.php?id=7f3a9c", None),
        ],
        ["T1071", "T1071.001"],
    ),
    "wazuh": (
        "medium",
        [
            ("ip", "203.0.113.45", "src"),
            ("user", "admin", "src"),
            ("hostname", "web-01", None),
            ("ip", "10.20.0.31", None),
        ],
        ["T1110"],
    ),
    "ecs": (
        "high",
        [
            ("hostname", "WKS-FIN-07", None),
            ("user", "j.doe", None),
            ("file_hash", "de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c", None),
            ("ip", "10.30.4.77", None),
            ("process", "powershell.exe", None),
        ],
        ["T1059", "T1059.001", "T1566", "T1566.001"],
    ),
    "ocsf": (
        "high",
        [
            ("ip", "203.0.113.200", "dest"),
            ("domain", "relay.sync-cloud.example", "dest"),
            ("ip", "10.20.0.31", "src"),
            ("hostname", "web-01.corp.example", None),
            ("user", "www-data", None),
            ("port", "443", "dest"),
            ("process", "nginx", None),
            ("file_hash", "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef", None),
        ],
        ["T1071", "T1071.001", "T1190"],
    ),
}


# --- helpers ------------------------------------------------------------------------------------------


async def get_incident(svc: RunningService, incident_id: str, timeout: float = 15) -> dict[str, Any]:
    """The incident as the API shows it, once the workflow has opened it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = await svc.http.get(f"/v1/incidents/{incident_id}")
        if response.status_code == 200:
            view: dict[str, Any] = response.json()
            return view
        assert response.status_code == 404, response.text
        await asyncio.sleep(0.1)
    raise AssertionError(f"incident {incident_id} never appeared")


def observed(view: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(o["type"], o["value"], o["role"]) for o in view["observables"]]


def accepted(result: dict[str, Any]) -> str:
    assert result["status"] == "accepted", result
    assert result["duplicate"] is False, result
    incident_id = str(result["incident_id"])
    assert incident_id.startswith("incident-")
    ACCEPTED_INCIDENTS.add(incident_id)
    return incident_id


async def metric(svc: RunningService, name: str, label: str) -> float:
    text = (await svc.http.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(name + "{") and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- every source, every shape ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["object", "array", "ndjson"])
@pytest.mark.parametrize("source", SOURCES)
async def test_real_shaped_alerts_become_incidents(svc: RunningService, source: str, shape: str) -> None:
    events = {name: stamp(source, event, f"{shape}-{name}") for name, event in alert_fixtures(source).items()}
    assert "example" in events and len(events) >= 3
    names = list(events)

    if shape == "object":
        results = []
        for name in names:
            response = await svc.http.post(f"/v1/alerts/{source}", json=events[name])
            assert response.status_code == 202, response.text
            body = response.json()
            assert (body["accepted"], len(body["results"])) == (1, 1)
            results.append(body["results"][0])
    else:
        if shape == "array":
            response = await svc.http.post(f"/v1/alerts/{source}", json=[events[n] for n in names])
        else:
            content = ndjson([events[n] for n in names])
            response = await svc.http.post(f"/v1/alerts/{source}", content=content, headers={"Content-Type": NDJSON})
        assert response.status_code == 202, response.text
        body = response.json()
        assert (body["accepted"], body["rejected"], body["ignored"], body["unavailable"]) == (len(names), 0, 0, 0)
        results = body["results"]
        assert [r["index"] for r in results] == list(range(len(names)))

    incidents = {name: accepted(result) for name, result in zip(names, results, strict=True)}
    for name in names:
        view = await get_incident(svc, incidents[name])
        alert = adapted(source, events[name])
        # The incident carries what the adapter made of the event ...
        assert (view["severity"], view["severity_id"]) == (alert.severity.label, int(alert.severity)), name
        assert observed(view) == [(o.type.value, o.value, o.role) for o in alert.observables], name
        assert view["techniques"] == alert.techniques, name
        assert view["source"] == alert.source and view["title"] == alert.title, name
    # ... and for the documented example that is, written out by hand:
    severity, observables, techniques = EXAMPLES[source]
    view = await get_incident(svc, incidents["example"])
    assert (view["severity"], observed(view), view["techniques"]) == (severity, observables, techniques)


# --- malformed events in a batch ----------------------------------------------------------------------

# source -> [(dotted field to change, new value or None to delete, JSON path the answer must name, words)]
MALFORMED: dict[str, list[tuple[str, Any, str, str]]] = {
    "generic": [("severity", "LOUD", "$.severity", "'LOUD'"), ("title", None, "$.title", "required")],
    "suricata": [
        ("alert.severity", "loud", "$.alert.severity", "'loud'"),
        ("alert.signature", None, "$.alert.signature", "required"),
    ],
    "wazuh": [("rule.level", "x", "$.rule.level", "'x'"), ("rule.description", None, "$.rule.description", "required")],
    "ecs": [
        ("kibana.alert.severity", "urgent", "$['kibana.alert.severity']", "'urgent'"),
        ("kibana.alert.rule.name", None, "$.kibana.alert.rule.name", "required"),
    ],
    "ocsf": [("severity_id", 42, "$.severity_id", "42"), ("class_uid", None, "$.class_uid", "required")],
}


def broken(source: str, tag: str, field: str, new: Any) -> dict[str, Any]:
    event = stamp(source, load(source, "example"), tag)
    parent = event
    parts = [field] if field in event else field.split(".")  # ECS writes `kibana.*` as flat keys
    for part in parts[:-1]:
        parent = parent[part]
    if new is None:
        del parent[parts[-1]]
    else:
        parent[parts[-1]] = new
    return event


@pytest.mark.parametrize("source", SOURCES)
async def test_malformed_events_are_rejected_by_path_and_the_rest_accepted(svc: RunningService, source: str) -> None:
    good = list(alert_fixtures(source).items())[:2]
    bad = MALFORMED[source]
    lines: list[Any] = [
        stamp(source, good[0][1], f"mixed-{good[0][0]}"),
        broken(source, "mixed-bad-0", bad[0][0], bad[0][1]),
        b'{"not": "json"',  # a line cut short: not JSON at all
        stamp(source, good[1][1], f"mixed-{good[1][0]}"),
        broken(source, "mixed-bad-1", bad[1][0], bad[1][1]),
    ]
    response = await svc.http.post(f"/v1/alerts/{source}", content=ndjson(lines), headers={"Content-Type": NDJSON})

    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 3)
    results = body["results"]
    assert [r["status"] for r in results] == ["accepted", "rejected", "rejected", "accepted", "rejected"]
    for index, (_, _, path, words) in zip((1, 4), bad, strict=True):
        assert results[index]["path"] == path, results[index]
        assert words in results[index]["error"], results[index]
    assert results[2]["path"] == "$"
    assert "line 3 is not valid JSON" in results[2]["error"]
    for index in (0, 3):
        await get_incident(svc, accepted(results[index]))


@pytest.mark.parametrize("source", SOURCES)
async def test_a_batch_of_only_malformed_events_is_422(svc: RunningService, source: str) -> None:
    bad = [broken(source, f"all-bad-{i}", field, new) for i, (field, new, _, _) in enumerate(MALFORMED[source])]
    response = await svc.http.post(f"/v1/alerts/{source}", json=bad)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_alerts" and body["message"]
    assert (body["accepted"], body["rejected"]) == (0, 2)
    assert [r["path"] for r in body["results"]] == [path for _, _, path, _ in MALFORMED[source]]
    # One malformed object on its own is a 422 naming its field too.
    single = await svc.http.post(f"/v1/alerts/{source}", json=bad[0])
    assert single.status_code == 422
    assert single.json()["results"][0]["path"] == MALFORMED[source][0][2]


async def test_json_that_is_not_an_object_is_rejected_per_item(svc: RunningService) -> None:
    event = stamp("generic", load("generic", "example"), "not-object")
    response = await svc.http.post("/v1/alerts/generic", json=[event, "alert", 7, None, [event]])
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    accepted(results[0])
    for result in results[1:]:
        assert (result["status"], result["path"]) == ("rejected", "$")
        assert "must be a JSON object" in result["error"]


# --- Suricata's other event types ----------------------------------------------------------------------


async def test_suricata_non_alert_events_are_ignored_and_counted(svc: RunningService) -> None:
    others = [load("suricata", name) for name in ("flow", "stats", "dns")]
    alert = stamp("suricata", load("suricata", "example"), "with-flow-events")
    before = await metric(svc, "xorb_alerts_ignored_total", 'source="suricata"')

    mixed = await svc.http.post(
        "/v1/alerts/suricata", content=ndjson([others[0], alert, *others[1:]]), headers={"Content-Type": NDJSON}
    )
    assert mixed.status_code == 202, mixed.text
    body = mixed.json()
    assert (body["accepted"], body["ignored"], body["rejected"]) == (1, 3, 0)
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["ignored", "accepted", "ignored", "ignored"]
    assert all(r["reason"] == "not an alert event of suricata" for r in body["results"] if r["status"] == "ignored")
    await get_incident(svc, accepted(body["results"][1]))

    # Nothing but protocol logs: not an error either (a sensor's eve.json is mostly these).
    only = await svc.http.post("/v1/alerts/suricata", json=others)
    assert only.status_code == 202, only.text
    assert (only.json()["ignored"], only.json()["accepted"]) == (3, 0)
    assert await metric(svc, "xorb_alerts_ignored_total", 'source="suricata"') == before + 6


# --- what the endpoint refuses as a whole ----------------------------------------------------------------


async def test_unknown_source_is_404_json(svc: RunningService) -> None:
    response = await svc.http.post("/v1/alerts/snort", json={"title": "x", "severity": 3})
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "unknown_source"
    assert "'snort'" in body["message"] and all(source in body["message"] for source in SOURCES)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
async def test_wrong_content_type_is_415(svc: RunningService, content_type: str) -> None:
    event = stamp("suricata", load("suricata", "example"), "content-type")
    headers = {"Content-Type": content_type} if content_type else {}
    response = await svc.http.post("/v1/alerts/suricata", content=json.dumps(event).encode(), headers=headers)
    assert response.status_code == 415
    body = response.json()
    assert body["error"] == "unsupported_media_type"
    assert "application/x-ndjson" in body["message"]


@pytest.mark.parametrize("content_type", ["application/jsonl", "application/json-seq"])
async def test_other_line_delimited_types_are_accepted(svc: RunningService, content_type: str) -> None:
    events = [stamp("wazuh", load("wazuh", name), f"{content_type}-{name}") for name in ("example", "syscheck")]
    if content_type == "application/json-seq":  # RFC 7464: RS (0x1E) starts each record, which may span lines
        content = b"".join(b"\x1e" + json.dumps(e, indent=2).encode() + b"\n" for e in events)
    else:
        content = ndjson(events)
    response = await svc.http.post("/v1/alerts/wazuh", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 202, response.text
    for result in response.json()["results"]:
        accepted(result)


async def test_too_many_events_in_one_request_is_413(svc: RunningService) -> None:
    from xorb_orchestrator.api.routes.sources import MAX_EVENTS

    content = b"{}\n" * (MAX_EVENTS + 1)
    response = await svc.http.post("/v1/alerts/generic", content=content, headers={"Content-Type": NDJSON})
    assert response.status_code == 413
    assert response.json()["error"] == "too_many_events"


# --- and nothing else was started ----------------------------------------------------------------------


async def test_only_accepted_alerts_started_incidents(svc: RunningService, temporal_client: Client) -> None:
    """Run last: the task queue holds exactly the incidents this module's accepted alerts went to."""
    assert ACCEPTED_INCIDENTS
    query = f"WorkflowType = 'IncidentWorkflow' AND TaskQueue = '{svc.settings.temporal_task_queue}'"
    found: set[str] = set()
    for _ in range(50):  # visibility is eventually consistent
        found = {execution.id async for execution in temporal_client.list_workflows(query)}
        if found >= ACCEPTED_INCIDENTS:
            break
        await asyncio.sleep(0.2)
    assert found == ACCEPTED_INCIDENTS
