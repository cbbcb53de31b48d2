"""The hostile-alert corpus (tests/data/hostile/alerts.ndjson) against the real service.

Each case is sent alone to POST /v1/alerts: a 4xx JSON error naming what is wrong, or 202 and then the alert really
is in its incident (counted). Each case that can be one NDJSON line is also sent between two good alerts to POST
/v1/alerts/generic: it is rejected or accepted on its own, and the good ones are always kept. Never a 500, never a
202 that is then lost.

A case is one JSON line: `case`, `why`, then the body, either `alert` (fields merged into a good alert; `drop`
removes some) or `parts` (text pieces joined: `@BASE@` is a good alert without observables and its closing brace,
`[n, "text"]` repeats the text n times with `@N@` its index, `{"hex": "ff"}` raw bytes), then `expect` (the status
alone), `says` (words the error must contain) and `view` (fields the incident must show as sent).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio

from tests.support.paths import DATA
from tests.support.stack import RedisServer, RunningService, make_settings, service

pytestmark = pytest.mark.timeout(90)
on_the_service = pytest.mark.asyncio(loop_scope="session")

CORPUS = DATA / "hostile" / "alerts.ndjson"
RUN = uuid.uuid4().hex[:8]
NDJSON = {"Content-Type": "application/x-ndjson"}
# An error names the problem in a sentence; it never echoes a 100 KB value back.
MAX_ERROR_CHARS = 4096


@dataclass(frozen=True)
class Case:
    name: str
    spec: dict[str, Any] = field(repr=False)

    @property
    def expect(self) -> int:
        return int(self.spec["expect"])

    @property
    def one_line(self) -> bool:
        """Whether it can be one event of an NDJSON batch (it is about one event, and has no line break)."""
        body = self.body("probe")
        return not self.spec.get("whole_request") and b"\n" not in body and b"\r" not in body

    def body(self, rule: str) -> bytes:
        if "parts" not in self.spec:
            alert = {**good_alert(rule), "observables": {"src_ip": "10.9.0.1"}, **self.spec.get("alert", {})}
            return json.dumps({k: v for k, v in alert.items() if k not in self.spec.get("drop", [])}).encode()
        base = json.dumps(good_alert(rule))[:-1]
        out = bytearray()
        for part in self.spec["parts"]:
            if isinstance(part, dict):
                out += bytes.fromhex(part["hex"])
            elif isinstance(part, list):
                count, text = part
                out += "".join(text.replace("@N@", str(n)) for n in range(count)).encode()
            else:
                out += part.replace("@BASE@", base).replace("@RULE@", rule).encode()
        return bytes(out)


def good_alert(rule: str, event_id: str | None = None) -> dict[str, Any]:
    alert = {"title": "Hostile input", "severity": "low", "source": "hostile", "rule": rule}
    return {**alert, "id": event_id} if event_id else alert


def load_corpus() -> list[Case]:
    cases = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    return [Case(spec["case"], spec) for spec in cases]


CASES = load_corpus()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(temporal_address: str, redis_server: RedisServer) -> AsyncIterator[RunningService]:
    # A long window: every incident stays open while its alerts are counted.
    settings = make_settings(temporal_address, redis_server.url, XORB_CORRELATION_WINDOW_SECONDS=3600)
    async with service(settings) as running:
        yield running


def test_the_corpus_covers_every_kind_of_hostile_input() -> None:
    names = [case.name for case in CASES]
    repeated = sorted({name for name in names if names.count(name) > 1})
    assert not repeated, f"case names must be unique: {repeated}"
    for kind in ("deep-", "wide-", "long-", "-utf8", "surrogate", "nul-", "int-", "float-", "observables-55000",
                 "duplicate-", "wrong-", "unknown-"):  # fmt: skip
        assert any(kind in name for name in names), kind
    fields = {name.split("-")[1] for name in names if name.startswith("wrong-")}
    assert fields == {"title", "severity", "source", "rule", "id", "time", "observables", "techniques", "raw"}
    statuses = {case.expect for case in CASES}
    assert statuses >= {202, 400, 413, 415, 422}, statuses


def assert_names_the_problem(case: Case, body: dict[str, Any], text: str) -> None:
    assert isinstance(body.get("error"), str) and isinstance(body.get("message"), str), text
    assert len(text) <= MAX_ERROR_CHARS, f"{case.name}: the error echoes {len(text)} characters back"
    named = body["message"] + " " + " ".join(f"{f['field']} {f['message']}" for f in body.get("fields", []))
    assert case.spec["says"] in named, f"{case.name}: {case.spec['says']!r} not in {named!r}"


async def assert_kept(svc: RunningService, incident_id: str, count: int, shown: dict[str, Any] | None = None) -> None:
    """The incident really holds the alerts: counted, none taken for a duplicate, `shown` as sent."""
    view = await svc.wait_for_view(incident_id, lambda v: v["alert_count"] >= count, goal=f"count {count} alerts")
    assert view["alert_count"] == count and view["duplicate_count"] == 0, view
    for name, sent in (shown or {}).items():
        assert view[name] == sent, f"{name} is {view[name]!r}, sent {sent!r}"


@on_the_service
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
async def test_a_hostile_alert_is_refused_by_name_or_kept(svc: RunningService, case: Case) -> None:
    headers = {"Content-Type": case.spec.get("content_type", "application/json")}
    response = await svc.http.post("/v1/alerts", content=case.body(f"{case.name}-alone-{RUN}"), headers=headers)
    assert response.status_code == case.expect, f"{case.name} ({case.spec['why']}): {response.text[:500]}"
    body = response.json()
    if case.expect == 202:
        assert body["duplicate"] is False
        await assert_kept(svc, body["incident_id"], 1, case.spec.get("view"))
    else:
        assert_names_the_problem(case, body, response.text)


@on_the_service
@pytest.mark.parametrize("case", [case for case in CASES if case.one_line], ids=lambda case: case.name)
async def test_a_hostile_alert_in_a_batch_never_costs_the_others(svc: RunningService, case: Case) -> None:
    good_rule = f"good-{case.name}-{RUN}"
    good = [json.dumps(good_alert(good_rule, f"{good_rule}-{n}")).encode() for n in (1, 2)]
    lines = [good[0], case.body(f"{case.name}-batch-{RUN}"), good[1]]
    response = await svc.http.post("/v1/alerts/generic", content=b"\n".join(lines), headers=NDJSON)
    assert response.status_code == 202, f"{case.name}: {response.text[:500]}"
    first, hostile, last = response.json()["results"]
    assert first["status"] == last["status"] == "accepted", response.text[:500]
    assert first["incident_id"] == last["incident_id"]
    if case.expect == 202:
        assert hostile["status"] == "accepted", hostile
        await assert_kept(svc, hostile["incident_id"], 1, case.spec.get("view"))
    else:
        assert hostile["status"] == "rejected", hostile
        named = f"{hostile['path']} {hostile['error']}"
        assert len(named) <= MAX_ERROR_CHARS, f"{case.name}: the error echoes {len(named)} characters back"
        assert case.spec["says"] in named, f"{case.name}: {case.spec['says']!r} not in {named!r}"
    await assert_kept(svc, first["incident_id"], 2)
