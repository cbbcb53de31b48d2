"""What the API answers 202 for is kept, whatever its shape: poison is refused at the door with a 4xx that names
the limit, and never takes the rest of its batch with it."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.support.stack import RedisServer, RunningService, make_settings, service
from xorb_orchestrator.api.body import MAX_JSON_DEPTH

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(90)]
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(temporal_address: str, redis_server: RedisServer) -> AsyncIterator[RunningService]:
    settings = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=3600)
    async with service(settings) as running:
        yield running


def alert(rule: str, n: int, raw: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"{rule}-{n}",
        "title": "Suspicious login",
        "severity": "medium",
        "source": "poison",
        "rule": rule,
        "observables": {"src_ip": "10.0.0.30", "user": "alice"},
    }
    if raw is not None:
        body["raw"] = raw
    return body


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 5, 199, 300, 5000])
async def test_an_alert_nested_too_deep_is_refused_with_the_limit(svc: RunningService, levels: int) -> None:
    rule = "deep-" + uuid.uuid4().hex[:8]
    # Written by hand: json.dumps itself gives up on the deepest.
    body = json.dumps(alert(rule, 1, raw={"deep": "HERE"})).replace('"HERE"', '{"a":' * levels + '"b"' + "}" * levels)
    response = await svc.http.post("/v1/alerts", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422), response.text
    assert f"deeper than {MAX_JSON_DEPTH} levels" in response.json()["message"]


async def test_a_lone_surrogate_or_invalid_utf8_is_refused(svc: RunningService) -> None:
    rule = "utf-" + uuid.uuid4().hex[:8]
    text = json.dumps(alert(rule, 1, raw={"note": "x"})).replace('"x"', '"\\ud800"')
    response = await svc.http.post("/v1/alerts", content=text, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "lone surrogate" in response.json()["message"], response.text
    bad_bytes = json.dumps(alert(rule, 2)).encode().replace(b"Suspicious", b"Sus\xffpicious")
    response = await svc.http.post("/v1/alerts", content=bad_bytes, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "malformed_json", response.text


async def test_poison_in_a_batch_is_rejected_alone_and_every_accepted_alert_is_counted(svc: RunningService) -> None:
    rule = "batch-" + uuid.uuid4().hex[:8]
    good = [json.dumps(alert(rule, n)).encode() for n in range(64)]
    with_nul = json.dumps(alert(rule, 64, raw={"cmd": "a\u0000b"})).encode()  # NUL is text: kept
    poison = [
        json.dumps(alert(rule, 100, raw=nested(199))).encode(),
        json.dumps(alert(rule, 101, raw={"note": "x"})).replace('"x"', '"\\udc80"').encode(),
        json.dumps(alert(rule, 102)).encode().replace(b"Suspicious", b"\xc3\x28"),
        b"[" * 3000 + b"]" * 3000,
    ]
    lines = good[:30] + poison[:2] + [with_nul] + good[30:] + poison[2:]
    response = await svc.http.post("/v1/alerts/generic", content=b"\n".join(lines), headers=NDJSON)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 65 and body["rejected"] == 4, body
    reasons = [r["error"] for r in body["results"] if r["status"] == "rejected"]
    assert any(f"deeper than {MAX_JSON_DEPTH} levels" in reason for reason in reasons), reasons
    assert any("lone surrogate" in reason for reason in reasons), reasons
    incident_ids = {r["incident_id"] for r in body["results"] if r["status"] == "accepted"}
    assert len(incident_ids) == 1
    (incident_id,) = incident_ids
    view = await svc.wait_for_view(incident_id, lambda v: v["alert_count"] == 65, timeout=30, goal="count 65")
    assert view["duplicate_count"] == 0
