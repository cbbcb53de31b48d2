"""What bench/chaos.py sends: good alerts (each its own incident), poison lines, and a sender that behaves like a
real shipper: each alert delivered several times at once, retried on 503/429 (honouring Retry-After) and on
transport errors, lines of a batch answered `unavailable` sent again, everything bounded in time."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

MAX_RETRY_AFTER = 10.0
PLACEHOLDER = "@@RAW@@"


@dataclass
class Good:
    """One valid alert; `mode` is the tool's behaviour for its incident (`ok` or a fault)."""

    n: int
    alert_id: str
    mode: str
    line: bytes
    incident_ids: set[str] = field(default_factory=set)
    answers: int = 0
    duplicate_answers: int = 0
    refusals: list[str] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.answers > 0

    def accept(self, incident_id: Any, duplicate: Any) -> None:
        self.answers += 1
        self.duplicate_answers += bool(duplicate)
        self.incident_ids.add(str(incident_id) if incident_id else "")


@dataclass
class Poison:
    """One hostile input. `must_refuse`: invalid by the API's contract (4xx / `rejected`); otherwise (an escaped
    NUL is valid JSON and valid Unicode) it may be accepted, and is then followed like any accepted alert."""

    kind: str
    must_refuse: bool
    via: Literal["batch", "single"]
    line: bytes
    refusals: list[str] = field(default_factory=list)
    incident_ids: set[str] = field(default_factory=set)
    gave_up: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return bool(self.incident_ids)

    def accept(self, incident_id: Any, duplicate: Any) -> None:
        self.incident_ids.add(str(incident_id) if incident_id else "")


Item = Good | Poison


@dataclass
class Unit:
    """One send: a single alert (POST /v1/alerts) or an NDJSON batch, delivered `copies` times at once."""

    at: float
    kind: Literal["single", "batch"]
    copies: int
    items: list[Item]


def good_alert(run: str, n: int, mode: str) -> Good:
    title = f"chaos alert {n}" + (f" tool={mode}" if mode != "ok" else "")
    body: dict[str, Any] = {
        "id": f"chaos-{run}-{n}",
        "title": title,
        "severity": "high",
        "source": "chaos",
        "rule": f"chaos-{run}-{n}",  # a distinct rule: each alert is its own incident
        "observables": {"src_ip": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"},
    }
    return Good(n, body["id"], mode, json.dumps(body).encode())


POISON_KINDS: dict[str, bool] = {  # kind -> must be refused
    "deep-300": True,
    "oversized-title": True,
    "oversized-rule": True,
    "nul-byte": True,
    "lone-surrogate": True,
    "surrogate-key": True,
    "surrogate-utf8-bytes": True,
    "invalid-utf8": True,
    "nul-escaped": False,
}


def poison_line(kind: str, run: str, n: int) -> bytes:
    body: dict[str, Any] = {
        "id": f"poison-{run}-{n}",
        "title": f"poison {kind} {n}",
        "severity": "high",
        "source": "chaos",
        "rule": f"poison-{run}-{n}",
        "observables": {"src_ip": "192.0.2.1"},
    }
    raw: bytes | None = None
    if kind == "deep-300":
        nested: dict[str, Any] = {}
        for _ in range(300):
            nested = {"a": nested}
        body["raw"] = nested
    elif kind == "oversized-title":
        body["title"] = "x" * 5000
    elif kind == "oversized-rule":
        body["rule"] = f"{n}-" + "r" * 20_000
    elif kind == "lone-surrogate":
        body["title"] = f"poison \ud800 {n}"
    elif kind == "surrogate-key":
        body["raw"] = {"\udc00": 1}
    elif kind == "nul-escaped":
        body["title"] = f"poison \x00 {n}"  # json.dumps writes \u0000: valid JSON, valid Unicode
    else:
        raw = {"nul-byte": b"\x00", "surrogate-utf8-bytes": b"\xed\xa0\x80", "invalid-utf8": b"\xff\xfe\xc3("}[kind]
        body["title"] = f"poison {PLACEHOLDER} {n}"
    line = json.dumps(body).encode()
    return line.replace(PLACEHOLDER.encode(), raw) if raw is not None else line


def build_plan(
    *,
    run: str,
    rng: random.Random,
    incidents: int,
    tool_modes: tuple[str, ...],
    tool_incidents: int,
    poison_lines: int,
    batch_size: int,
    batch_share: float,
    min_copies: int,
    max_copies: int,
    duration: float,
) -> tuple[list[Unit], list[Good], list[Poison]]:
    """Every send of the run with its moment: normal alerts (a share in NDJSON batches, poison lines mixed into
    those), the tool-fault alerts one by one spread evenly, and one single POST of each poison kind."""
    normal = [good_alert(run, n, "ok") for n in range(incidents)]
    faulty = [
        good_alert(run, incidents + i, mode)
        for i, mode in enumerate(m for m in tool_modes for _ in range(tool_incidents))
    ]
    kinds = list(POISON_KINDS)
    batched_poison = [
        Poison(kinds[i % len(kinds)], POISON_KINDS[kinds[i % len(kinds)]], "batch", b"") for i in range(poison_lines)
    ]
    single_poison = [Poison(kind, POISON_KINDS[kind], "single", b"") for kind in kinds]
    single_poison.append(Poison("body-over-limit", True, "single", b""))
    for number, poison in enumerate([*batched_poison, *single_poison]):
        if poison.kind == "body-over-limit":
            big = json.loads(good_alert(run, 10**6 + number, "ok").line) | {"title": "x" * (2 << 20)}
            poison.line = json.dumps(big).encode()
        else:
            poison.line = poison_line(poison.kind, run, number)

    def copies() -> int:
        return rng.randint(min_copies, max_copies)

    units: list[Unit] = []
    i = 0
    while i < len(normal):
        if rng.random() < batch_share and batch_size > 1:
            units.append(Unit(0.0, "batch", copies(), list(normal[i : i + batch_size])))
            i += batch_size
        else:
            units.append(Unit(0.0, "single", copies(), [normal[i]]))
            i += 1
    batches = [u for u in units if u.kind == "batch"] or [Unit(0.0, "batch", copies(), [])]
    if not any(u.kind == "batch" for u in units) and batched_poison:
        units.append(batches[0])
    for index, poison in enumerate(batched_poison):
        target = batches[index % len(batches)].items
        target.insert(rng.randrange(len(target) + 1), poison)
    extras = [
        *(Unit(0.0, "single", copies(), [g]) for g in faulty),
        *(Unit(0.0, "single", 1, [p]) for p in single_poison),
    ]
    rng.shuffle(extras)
    # Spread evenly among the others: each unit's place is its fraction of its own list.
    placed = [((j + 0.5) / max(1, len(units)), 0, u) for j, u in enumerate(units)]
    placed += [((k + 0.5) / len(extras), 1, u) for k, u in enumerate(extras)]
    units = [u for _, _, u in sorted(placed, key=lambda entry: entry[:2])]
    last = duration * 0.95
    for index, unit in enumerate(units):
        unit.at = last * index / max(1, len(units) - 1)
    return units, [*normal, *faulty], [*batched_poison, *single_poison]


def _retry_after(response: httpx.Response | None) -> float:
    if response is None:
        return 1.0
    try:
        return min(MAX_RETRY_AFTER, max(0.0, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(response: httpx.Response) -> str:
    body = _json(response)
    if not body:
        return f"{response.status_code}: {response.text[:160]}"
    return f"{response.status_code} {body.get('error')}: {str(body.get('message'))[:160]}"


@dataclass
class Sender:
    http: httpx.AsyncClient
    send_timeout: float  # per delivery, its retries included
    requests: int = 0
    retries: int = 0
    copies_sent: int = 0  # deliveries beyond the first of each unit (the duplicates sent on purpose)
    statuses: Counter[str] = field(default_factory=Counter)

    async def send_all(self, units: list[Unit], t0: float) -> None:
        tasks: list[asyncio.Task[None]] = []
        try:
            for unit in units:
                await asyncio.sleep(max(0.0, t0 + unit.at - time.monotonic()))
                tasks.append(asyncio.create_task(self.run_unit(unit)))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def run_unit(self, unit: Unit) -> None:
        self.copies_sent += (unit.copies - 1) * sum(1 for item in unit.items if isinstance(item, Good))
        copy = self._single if unit.kind == "single" else self._batch
        await asyncio.gather(*(copy(unit.items) for _ in range(unit.copies)))

    async def _post(self, path: str, body: bytes, content_type: str) -> httpx.Response | None:
        self.requests += 1
        try:
            response = await self.http.post(path, content=body, headers={"Content-Type": content_type})
        except httpx.HTTPError as exc:
            self.statuses[type(exc).__name__] += 1
            return None
        self.statuses[str(response.status_code)] += 1
        return response

    async def _single(self, items: list[Item]) -> None:
        (item,) = items
        deadline = time.monotonic() + self.send_timeout
        while True:
            response = await self._post("/v1/alerts", item.line, "application/json")
            if response is not None and response.status_code == 202:
                answer = _json(response)
                item.accept(answer.get("incident_id"), answer.get("duplicate"))
                return
            if response is not None and response.status_code < 500 and response.status_code != 429:
                item.refusals.append(_error(response))
                return
            wait = _retry_after(response)
            if time.monotonic() + wait > deadline:
                item.gave_up.append(_error(response) if response is not None else "transport error")
                return
            self.retries += 1
            await asyncio.sleep(wait)

    async def _batch(self, items: list[Item]) -> None:
        pending = list(items)
        deadline = time.monotonic() + self.send_timeout
        while pending:
            body = b"".join(item.line + b"\n" for item in pending)
            response = await self._post("/v1/alerts/generic", body, "application/x-ndjson")
            results = None
            if response is not None and response.status_code in (202, 422, 503):
                results = _json(response).get("results")
            if isinstance(results, list) and len(results) == len(pending):
                still = []
                for item, result in zip(pending, results, strict=True):
                    status = result.get("status")
                    if status == "accepted":
                        item.accept(result.get("incident_id"), result.get("duplicate"))
                    elif status == "unavailable":
                        still.append(item)
                    else:
                        item.refusals.append(f"{status}: {str(result.get('error'))[:160]}")
                pending = still
                if not pending:
                    return
            elif response is not None and response.status_code < 500 and response.status_code != 429:
                for item in pending:
                    item.refusals.append(f"whole request: {_error(response)}")
                return
            wait = _retry_after(response)
            if time.monotonic() + wait > deadline:
                for item in pending:
                    item.gave_up.append(_error(response) if response is not None else "transport error")
                return
            self.retries += 1
            await asyncio.sleep(wait)
