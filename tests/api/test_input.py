"""POST /v1/alerts against bad input, auth on every /v1 route, and the input shapes we accept.

Every refusal must be a 4xx JSON error naming what is wrong, must start nothing in Temporal, and
must leave the service serving: after each one, the corrected alert is accepted with 202.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client

from tests.support.stack import RunningService, make_settings, service
from xorb_orchestrator.config import Settings
from xorb_orchestrator.models.ids import incident_id_for
from xorb_orchestrator.services.correlation import key_for
from xorb_orchestrator.sources.generic_alert import GenericAlert

pytestmark = pytest.mark.asyncio(loop_scope="session")

MAX_BYTES = 2048
# One source for this module's alerts, so its metrics and incidents are told apart from others'.
SOURCE = "api-input-" + uuid.uuid4().hex[:8]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(temporal_address: str, redis_server: Any) -> AsyncIterator[RunningService]:
    settings = make_settings(temporal_address, redis_server.url, XORB_ALERT_MAX_BYTES=MAX_BYTES)
    _SETTINGS[:] = [settings]
    async with service(settings) as running:
        yield running


def good_alert(rule: str, **changes: Any) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "id": "evt-" + uuid.uuid4().hex,
        "title": "Outbound C2 beacon",
        "severity": "high",
        "source": SOURCE,
        "rule": rule,
        "observables": {"src_ip": "10.0.0.5", "dest_ip": "198.51.100.10"},
        "techniques": ["T1071.001"],
    }
    alert.update(changes)
    return alert


def expected_incident(alert: dict[str, Any], settings: Settings | None = None) -> str:
    """The incident id intake gives this alert (no correlation window in these tests)."""
    return incident_id_for(key_for(GenericAlert.model_validate(alert).to_alert(), settings or _SETTINGS[0]), None)


_SETTINGS: list[Settings] = []


def _without(alert: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in alert.items() if k != key}


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


JSON = "application/json"

# case -> (body given the good alert, content type, status, error code, field named or None, words)
BAD_INPUT: dict[str, tuple[Any, str, int, str, str | None, str]] = {
    "malformed-json": (lambda a: _json(a)[:-1], JSON, 400, "malformed_json", None, "not valid JSON"),
    "text-plain": (_json, "text/plain", 415, "unsupported_media_type", None, "'text/plain'"),
    "no-content-type": (_json, "", 415, "unsupported_media_type", None, "'none'"),
    "too-large": (
        lambda a: _json({**a, "raw": {"pad": "x" * 3072}}),
        JSON,
        413,
        "body_too_large",
        None,
        f"limit of {MAX_BYTES} bytes (XORB_ALERT_MAX_BYTES)",
    ),
    "empty-body": (lambda a: b"", JSON, 400, "empty_body", None, "empty"),
    "whitespace-body": (lambda a: b"  \n ", JSON, 400, "empty_body", None, "empty"),
    "json-array": (lambda a: _json([a]), JSON, 422, "invalid_alert", "body", "JSON object, got an array"),
    "json-string": (
        lambda a: _json("alert"),
        JSON,
        422,
        "invalid_alert",
        "body",
        "JSON object, got a string",
    ),
    "json-null": (lambda a: b"null", JSON, 422, "invalid_alert", "body", "JSON object, got null"),
    "missing-title": (lambda a: _json(_without(a, "title")), JSON, 422, "invalid_alert", "title", "title"),
    "severity-word": (
        lambda a: _json({**a, "severity": "LOUD"}),
        JSON,
        422,
        "invalid_alert",
        "severity",
        "LOUD",
    ),
    "severity-number": (lambda a: _json({**a, "severity": 9}), JSON, 422, "invalid_alert", "severity", "0-6"),
    "unknown-observable": (
        lambda a: _json({**a, "observables": {**a["observables"], "colour": "red"}}),
        JSON,
        422,
        "invalid_alert",
        "observables.colour",
        "unknown observable type",
    ),
    "unknown-observable-in-list": (
        lambda a: _json(
            {
                **a,
                "observables": [{"type": "src_ip", "value": "10.0.0.5"}, {"type": "colour", "value": "red"}],
            }
        ),
        JSON,
        422,
        "invalid_alert",
        "observables.colour",
        "unknown observable type",
    ),
    "invalid-ip": (
        lambda a: _json({**a, "observables": {**a["observables"], "src_ip": "10.0.0.999"}}),
        JSON,
        422,
        "invalid_alert",
        "observables.src_ip",
        "'10.0.0.999' is not an IPv4 or IPv6 address",
    ),
    "boolean-port": (
        lambda a: _json({**a, "observables": {**a["observables"], "dest_port": True}}),
        JSON,
        422,
        "invalid_alert",
        "observables.dest_port",
        "observables.dest_port",
    ),
    "bad-technique": (
        lambda a: _json({**a, "techniques": ["T1071.001", "lateral-movement"]}),
        JSON,
        422,
        "invalid_alert",
        "techniques.1",
        "pattern",
    ),
    "unknown-field": (
        lambda a: _json({**a, "colour": "red"}),
        JSON,
        422,
        "invalid_alert",
        "colour",
        "colour",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
async def test_bad_input_is_refused_starts_nothing_and_service_keeps_serving(svc: RunningService, case: str) -> None:
    make_body, content_type, status, code, field, words = BAD_INPUT[case]
    alert = good_alert(rule=f"bad-input-{case}")
    incident_id = expected_incident(alert)
    headers = {"Content-Type": content_type} if content_type else {}

    response = await svc.http.post("/v1/alerts", content=make_body(alert), headers=headers)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == code
    assert words in body["message"] or any(words in f["message"] for f in body.get("fields", []))
    if field is not None:
        assert [f["field"] for f in body["fields"]] == [field]
        assert field in body["message"] or field == "body"
    # Nothing was started for this alert ...
    missing = await svc.http.get(f"/v1/incidents/{incident_id}")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    # ... and the service still takes the corrected alert, as the same incident.
    assert await svc.send_alert(alert) == incident_id


async def test_oversized_chunked_body_is_refused_while_streaming(svc: RunningService) -> None:
    """No Content-Length to trust: the limit is counted as the bytes arrive."""
    alert = good_alert(rule="bad-input-chunked", raw={"pad": "x" * 3072})

    async def chunks() -> AsyncIterator[bytes]:
        data = _json(alert)
        for start in range(0, len(data), 512):
            yield data[start : start + 512]

    response = await svc.http.post("/v1/alerts", content=chunks(), headers={"Content-Type": JSON})
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert (await svc.http.get(f"/v1/incidents/{expected_incident(alert)}")).status_code == 404


async def test_refused_alerts_are_never_delivered(svc: RunningService, temporal_client: Client) -> None:
    """After the refusals above, this module's workflows are exactly its accepted alerts' incidents."""
    metrics = (await svc.http.get("/metrics")).text
    assert _sample(metrics, "xorb_alerts_rejected_total", 'reason="invalid"') >= 10
    # Every alert accepted so far had its own rule, so one incident each; nothing else was started.
    accepted = _sample(metrics, "xorb_alerts_received_total", f'source="{SOURCE}"')
    query = f"WorkflowType = 'IncidentWorkflow' AND TaskQueue = '{svc.settings.temporal_task_queue}'"
    count = 0
    for _ in range(50):  # visibility is eventually consistent
        count = (await temporal_client.count_workflows(query)).count
        if count >= accepted:
            break
        await asyncio.sleep(0.2)
    assert count == accepted


def _sample(metrics: str, name: str, label: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(name + "{") and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- auth ------------------------------------------------------------------------------------------

V1_ROUTES = [
    ("POST", "/v1/alerts"),
    ("GET", "/v1/incidents"),
    ("GET", "/v1/incidents/incident-000000000000000000000000"),
]
BAD_CREDENTIALS = {
    "none": {},
    "wrong-key": {"Authorization": "Bearer not-the-key"},
    "bare-bearer": {"Authorization": "Bearer"},
    "basic-scheme": {"Authorization": "Basic dXNlcjpwYXNz"},
}


@pytest.mark.parametrize("credentials", list(BAD_CREDENTIALS))
@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
async def test_v1_routes_need_the_key(svc: RunningService, method: str, path: str, credentials: str) -> None:
    alert = good_alert(rule=f"auth-{credentials}")
    async with httpx.AsyncClient(base_url=svc.base_url, timeout=10) as anonymous:
        response = await anonymous.request(
            method, path, json=alert if method == "POST" else None, headers=BAD_CREDENTIALS[credentials]
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"
    assert "Authorization: Bearer" in response.json()["message"]
    if method == "POST":  # refused before anything was read or started
        assert (await svc.http.get(f"/v1/incidents/{expected_incident(alert)}")).status_code == 404


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
async def test_operational_routes_need_no_key(svc: RunningService, path: str) -> None:
    async with httpx.AsyncClient(base_url=svc.base_url, timeout=10) as anonymous:
        response = await anonymous.get(path)
    assert response.status_code == 200, response.text
    if path == "/metrics":
        assert "xorb_alerts_received" in response.text
    else:
        assert response.json()["status"] in ("ok", "ready")


async def test_unknown_method_is_json(svc: RunningService) -> None:
    response = await svc.http.put("/v1/alerts", json={})
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


# --- accepted shapes -------------------------------------------------------------------------------


async def test_observables_as_list_and_list_values_are_accepted(svc: RunningService) -> None:
    alert = good_alert(
        rule="shapes-list",
        observables=[
            {"type": "src_ip", "value": "10.0.0.7"},
            {"type": "ip", "value": ["1.2.3.4", "5.6.7.8"], "role": "dest"},
            {"type": "domain", "value": "C2.Example"},
        ],
    )
    incident = await svc.wait_for_incident(await svc.send_alert(alert))
    assert [(o["type"], o["value"], o["role"]) for o in incident["observables"]] == [
        ("ip", "10.0.0.7", "src"),
        ("ip", "1.2.3.4", "dest"),
        ("ip", "5.6.7.8", "dest"),
        ("domain", "c2.example", None),
    ]


async def test_list_value_in_observables_object_is_accepted(svc: RunningService) -> None:
    alert = good_alert(rule="shapes-dict-list", observables={"src_ip": "10.0.0.8", "dest_ip": ["1.2.3.4", "5.6.7.8"]})
    incident = await svc.wait_for_incident(await svc.send_alert(alert))
    assert {(o["value"], o["role"]) for o in incident["observables"]} == {
        ("10.0.0.8", "src"),
        ("1.2.3.4", "dest"),
        ("5.6.7.8", "dest"),
    }


async def test_severity_as_ocsf_number(svc: RunningService) -> None:
    incident_id = await svc.send_alert(good_alert(rule="shapes-ocsf", severity=5))
    incident = await svc.wait_for_incident(incident_id)
    assert (incident["severity"], incident["severity_id"]) == ("critical", 5)


@pytest.mark.parametrize("with_event_id", [True, False], ids=["event-id", "content"])
async def test_same_alert_five_times_is_one_incident_with_one_alert(svc: RunningService, with_event_id: bool) -> None:
    alert = good_alert(rule=f"dup-{with_event_id}", observables={"src_ip": "10.9.9.9"})
    if not with_event_id:
        del alert["id"]
    answers = []
    for _ in range(5):
        response = await svc.http.post("/v1/alerts", json=alert)
        assert response.status_code == 202, response.text
        answers.append(response.json())
    assert {a["incident_id"] for a in answers} == {expected_incident(alert)}
    assert [a["duplicate"] for a in answers] == [False, True, True, True, True]
    incident = await svc.wait_for_incident(answers[0]["incident_id"])
    assert incident["alert_count"] == 1


async def test_same_alert_five_times_at_once_is_still_one_alert(svc: RunningService) -> None:
    """Concurrent re-deliveries can all pass the Redis check; the workflow drops them by fingerprint."""
    alert = good_alert(rule="dup-concurrent", observables={"src_ip": "10.9.9.10"})
    responses = await asyncio.gather(*(svc.http.post("/v1/alerts", json=alert) for _ in range(5)))
    assert [r.status_code for r in responses] == [202] * 5
    incident_id = expected_incident(alert)
    assert {r.json()["incident_id"] for r in responses} == {incident_id}
    incident = await svc.wait_for_incident(incident_id)
    assert incident["alert_count"] == 1
    assert incident["alert_count"] + incident["duplicate_count"] <= 5
    assert re.fullmatch(r"incident-[0-9a-f]{24}", incident_id)
