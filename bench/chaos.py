"""Chaos suite: incidents sent while the real processes are killed, restarted and starved; nothing may be lost.

    .venv/bin/python bench/chaos.py            # 300 incidents, 10 worker kills, 3 Temporal restarts, Redis 60 s down
    .venv/bin/python bench/chaos.py --small    # the reduced form tests/test_chaos.py runs (about a minute)

It starts, each on free ports of 127.0.0.1 and logging to its own file in a temporary work directory: a Temporal
dev server on a SQLite file (restarted on the same file), a Redis without persistence, one `xorb api`, two
`xorb worker`s, and a recording tool standing in for the notify.webhook receiver (bench/chaos_tool.py). While the
alerts are being sent (each delivered 2-5 times at once, a share as NDJSON batches with poison lines mixed in,
retried on 503/429 as a shipper does) it SIGKILLs workers, restarts Temporal, stops and flushes Redis, and makes
the tool fail for some incidents (500, 429, 404, hang). Then it waits until every accepted incident is finished,
prints one table and writes it to bench/results/chaos-<UTC timestamp>.json. Exit 1 when an accepted alert was
lost, an incident is stuck, an effect happened twice (or for an incident nobody sent), or poison was accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from chaos_faults import LIVE_STACKS, ChaosError, Stack, redis_faults, temporal_restarts, worker_kills
from chaos_report import FINISHED, Late, Outcome, analyse, machine_info, render, summarize_exits
from chaos_send import Good, Poison, Sender, Unit, build_plan
from chaos_tool import MODES, RecordingTool
from temporalio.client import Client

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


@dataclass(frozen=True)
class ChaosConfig:
    incidents: int = 300  # normal incidents (the tool answers them)
    kills: int = 10  # worker SIGKILLs
    temporal_restarts: int = 3
    temporal_down: float = 10.0  # seconds between Temporal's exit and its start again (> the API's 6 s: 503s)
    redis_down: float = 60.0  # seconds Redis is stopped (0: not stopped)
    redis_flushes: int = 1
    tool_modes: tuple[str, ...] = ("500", "429", "404", "hang")
    tool_incidents: int = 3  # incidents per failing tool mode
    hang_seconds: float = 15.0  # a hanging call is held this long (the action's HTTP read timeout is 10 s)
    min_copies: int = 2  # each alert is delivered this many to max_copies times at once
    max_copies: int = 5
    poison: int = 18  # poison lines mixed into NDJSON batches (plus one single POST of each kind)
    batch_size: int = 5
    batch_share: float = 0.5  # share of the normal alerts sent in NDJSON batches
    duration: float = 150.0  # seconds of sending, during which the faults happen
    settle_timeout: float = 300.0  # after the faults, how long incidents may take to finish
    send_timeout: float = 180.0  # per delivery, retries included
    late_redeliveries: int = 10  # closed incidents' alerts sent once more after a FLUSHALL, at the end
    workers: int = 2
    window: float = 0.0  # XORB_CORRELATION_WINDOW_SECONDS (0: incidents close right after their response)
    seed: int | None = None
    results_dir: Path = RESULTS_DIR
    keep_work: bool = False


SMALL: dict[str, Any] = {
    "incidents": 30, "kills": 2, "temporal_restarts": 1, "temporal_down": 8.0, "redis_down": 5.0, "redis_flushes": 1,
    "tool_modes": ("500", "429", "404"), "tool_incidents": 2, "max_copies": 3, "poison": 9,
    "duration": 30.0, "settle_timeout": 120.0, "send_timeout": 90.0, "late_redeliveries": 3,
}  # fmt: skip


async def _get(http: httpx.AsyncClient, incident_id: str) -> tuple[int | None, dict[str, Any], str]:
    try:
        response = await http.get(f"/v1/incidents/{incident_id}")
    except httpx.HTTPError as exc:
        return None, {}, f"{type(exc).__name__}: {exc}"
    try:
        body = response.json()
    except ValueError:
        body = {}
    return response.status_code, body if isinstance(body, dict) else {}, response.text[:200]


async def settle(
    http: httpx.AsyncClient, incident_ids: set[str], timeout: float, until: tuple[str, ...] = FINISHED
) -> Outcome:
    """Poll every incident until its status is one of `until` or the deadline passes; then read each one last time."""
    outcome = Outcome()
    pending = set(incident_ids)
    deadline = time.monotonic() + timeout
    gate = asyncio.Semaphore(8)

    async def read(incident_id: str) -> None:
        async with gate:
            for attempt in range(5):
                status, body, text = await _get(http, incident_id)
                if status == 200:
                    outcome.views[incident_id] = body
                    outcome.unreadable.pop(incident_id, None)
                    return
                if status == 404:
                    outcome.views[incident_id] = None
                    return
                outcome.unreadable[incident_id] = f"{status}: {text}"
                await asyncio.sleep(0.5 * (attempt + 1))

    while pending and time.monotonic() < deadline:
        await asyncio.gather(*(read(i) for i in sorted(pending)))
        pending = {i for i in pending if (outcome.views.get(i) or {}).get("status") not in until}
        if pending:
            await asyncio.sleep(2.0)
    await asyncio.gather(*(read(i) for i in sorted(incident_ids)))
    return outcome


async def run(cfg: ChaosConfig) -> dict[str, Any]:
    """One chaos run; returns the result (also written to cfg.results_dir). Stops everything it started."""
    seed = cfg.seed if cfg.seed is not None else secrets.randbelow(2**31)
    rng = random.Random(seed)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{stamp}-{seed % 10_000}"
    work = Path(tempfile.mkdtemp(prefix="xorb-chaos-"))
    tool = RecordingTool(hang_seconds=cfg.hang_seconds).start()
    stack = Stack(work, tool.url, workers=cfg.workers, task_queue=f"chaos-{run_id}", window=cfg.window)
    stop = asyncio.Event()
    supervisor: asyncio.Task[None] | None = None
    timings: dict[str, float] = {}
    began = time.monotonic()
    result: dict[str, Any] = {"benchmark": "chaos", "started_at": stamp, "seed": seed, "work_dir": str(work)}
    problems: list[str] = []
    try:
        await stack.start()
        timings["startup_s"] = round(time.monotonic() - began, 1)
        supervisor = asyncio.create_task(stack.supervise(stop))
        auth = {"Authorization": f"Bearer {stack.api_key}"}
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        async with httpx.AsyncClient(base_url=stack.api_url, headers=auth, timeout=30.0, limits=limits) as http:
            await _wait_ready(http, 60.0)
            units, goods, poison = build_plan(
                run=run_id, rng=rng, incidents=cfg.incidents, tool_modes=cfg.tool_modes,
                tool_incidents=cfg.tool_incidents, poison_lines=cfg.poison, batch_size=cfg.batch_size,
                batch_share=cfg.batch_share, min_copies=cfg.min_copies, max_copies=cfg.max_copies,
                duration=cfg.duration,
            )  # fmt: skip
            sender = Sender(http, cfg.send_timeout)
            stack.t0 = time.monotonic()
            stack.event("sending", units=len(units), alerts=len(goods), poison=len(poison))
            await send_with_faults(cfg, stack, sender, units, rng, supervisor)
            timings["sending_and_faults_s"] = round(time.monotonic() - stack.t0, 1)
            settled_from = time.monotonic()
            items: list[Good | Poison] = [*goods, *poison]
            incident_ids = {i for item in items for i in item.incident_ids if i}
            stack.event("faults and sending done; waiting for incidents to finish", incidents=len(incident_ids))
            outcome = await settle(http, incident_ids, cfg.settle_timeout)
            stack.event("settled")
            timings["settle_s"] = round(time.monotonic() - settled_from, 1)
            late = await redeliver_late(cfg, stack, sender, http, goods, outcome, rng)
            outcome.runs = await count_runs(f"127.0.0.1:{stack.ports['temporal']}")
        table, problems, warnings, extra = analyse(cfg.tool_modes, goods, poison, outcome, tool, late, stack.t0)
        table["duplicate_deliveries_sent"] = sender.copies_sent
        exit_notes, exit_warnings = summarize_exits(stack.exits)
        extra["notes"] += exit_notes
        warnings += exit_warnings
        result |= {
            "parameters": {f.name: _plain(getattr(cfg, f.name)) for f in fields(cfg)},
            "machine": machine_info(),
            "table": table,
            "problems": problems,
            "warnings": warnings,
            "sender": {
                "requests": sender.requests,
                "retries": sender.retries,
                "answers": dict(sender.statuses),
                "answered_duplicate": sum(g.duplicate_answers for g in goods),
                "answers_per_alert": dict(Counter(g.answers for g in goods)),
            },
            "faults": stack.events,
            "unexpected_exits": stack.exits,
            **extra,
        }
        (work / "tool-calls.jsonl").write_text("".join(json.dumps(c) + "\n" for c in tool.calls_as_dicts()))
    except ChaosError as exc:
        raise ChaosError(f"{exc} (logs in {work})") from None
    finally:
        stop.set()
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(BaseException):
                await supervisor
        await stack.stop_all()
        tool.stop()
        stack.kill_all_now()
        timings["total_s"] = round(time.monotonic() - began, 1)
        result["timings"] = timings
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    out = cfg.results_dir / f"chaos-{stamp}.json"
    result["result_file"] = str(out)
    if problems or cfg.keep_work:
        result["work_dir_kept"] = True
    else:
        shutil.rmtree(work, ignore_errors=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return result


async def send_with_faults(
    cfg: ChaosConfig,
    stack: Stack,
    sender: Sender,
    units: list[Unit],
    rng: random.Random,
    supervisor: asyncio.Task[None],
) -> None:
    """Send everything on its schedule while the faults happen; a crash-looping process ends the run."""
    jobs = [
        sender.send_all(units, stack.t0),
        worker_kills(stack, rng, cfg.kills, cfg.duration),
        temporal_restarts(stack, cfg.temporal_restarts, cfg.duration, cfg.temporal_down),
        redis_faults(stack, cfg.redis_down, cfg.redis_flushes, cfg.duration),
    ]
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        while not all(task.done() for task in tasks):
            await asyncio.wait([t for t in [*tasks, supervisor] if not t.done()], return_when=asyncio.FIRST_COMPLETED)
            for task in [*tasks, supervisor]:
                error = task.exception() if task.done() and not task.cancelled() else None
                if error is not None:
                    raise error
            if supervisor.done():
                raise ChaosError("the supervisor stopped")
    finally:
        for task in tasks:
            task.cancel()


async def redeliver_late(
    cfg: ChaosConfig,
    stack: Stack,
    sender: Sender,
    http: httpx.AsyncClient,
    goods: list[Good],
    outcome: Outcome,
    rng: random.Random,
) -> Late:
    """A shipper replaying after a crash: alerts whose incidents have closed, sent once more (same id) after a
    FLUSHALL, so only Temporal can tell they were delivered already. Their incidents are read again after."""
    finished = [
        g for g in goods if g.mode == "ok" and g.incident_ids
        and all((outcome.views.get(i) or {}).get("status") in ("completed", "closed") for i in g.incident_ids)
    ]  # fmt: skip
    chosen = rng.sample(finished, min(cfg.late_redeliveries, len(finished)))
    # With a correlation window, an incident closes only after its window (and a grace) has passed.
    ids = {i for g in chosen for i in g.incident_ids}
    closed = await settle(http, ids, cfg.window * 2 + 60, until=("closed",)) if ids else Outcome()
    late = Late(
        [g for g in chosen if all((closed.views.get(i) or {}).get("status") == "closed" for i in g.incident_ids)]
    )
    if not late.alerts:
        return late
    late.known = {i for g in late.alerts for i in g.incident_ids}
    await stack.flush_redis()
    before = sum(g.duplicate_answers for g in late.alerts)
    late.at = time.monotonic()
    stack.event("late re-deliveries of closed incidents' alerts", alerts=len(late.alerts))
    await asyncio.gather(*(sender.run_unit(Unit(0.0, "single", 1, [g])) for g in late.alerts))
    late.answered_duplicate = sum(g.duplicate_answers for g in late.alerts) - before
    again = await settle(http, {i for g in late.alerts for i in g.incident_ids if i}, cfg.settle_timeout)
    outcome.views |= again.views
    outcome.unreadable |= again.unreadable
    stack.event("late re-deliveries settled")
    return late


async def count_runs(address: str, timeout: float = 60.0) -> dict[str, int]:
    """How many runs each incident's workflow id has had (a closed incident's id starts a new run when an alert
    reaches it again without a correlation window)."""

    async def count() -> dict[str, int]:
        client = await Client.connect(address, namespace="default")
        runs: Counter[str] = Counter()
        async for execution in client.list_workflows("WorkflowType = 'IncidentWorkflow'"):
            runs[execution.id] += 1
        return dict(runs)

    return await asyncio.wait_for(count(), timeout)


async def _wait_ready(http: httpx.AsyncClient, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            response = await http.get("/readyz")
            if response.status_code == 200:
                return
            last = response.text[:200]
        await asyncio.sleep(0.3)
    raise ChaosError(f"the API was not ready within {timeout:.0f} s: {last}")


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value


def parse_config(argv: list[str] | None) -> ChaosConfig:
    base = ChaosConfig()
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the reduced sizes of tests/test_chaos.py")
    for f in fields(ChaosConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(base, f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true", default=None, help=f"(default {default})")
        elif f.name == "tool_modes":
            parser.add_argument(flag, default=None, help=f"comma-separated of {', '.join(MODES[1:])} (default "
                                f"{','.join(default)}; 'none' for no tool faults)")  # fmt: skip
        else:
            kind = Path if f.name == "results_dir" else int if f.name == "seed" else type(default)
            parser.add_argument(flag, type=kind, default=None, help=f"(default {default})")
    args = vars(parser.parse_args(argv))
    cfg = replace(base, **SMALL) if args.pop("small") else base
    given = {name: value for name, value in args.items() if value is not None}
    if "tool_modes" in given:
        modes = tuple(m.strip() for m in given["tool_modes"].split(",") if m.strip() and m.strip() != "none")
        unknown = [m for m in modes if m not in MODES[1:]]
        if unknown:
            parser.error(f"--tool-modes: unknown mode {unknown[0]!r}")
        given["tool_modes"] = modes
    cfg = replace(cfg, **given)
    if not 1 <= cfg.min_copies <= cfg.max_copies:
        parser.error("--min-copies must be at least 1 and at most --max-copies")
    return cfg


def main(argv: list[str] | None = None) -> int:
    cfg = parse_config(argv)
    print(f"chaos: {json.dumps(asdict(cfg), default=_plain)}", flush=True)

    async def guarded() -> dict[str, Any]:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await run(cfg)

    try:
        result = asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        logs = ", ".join(str(stack.work) for stack in LIVE_STACKS)
        print(f"chaos: interrupted; everything it started is stopped (logs in {logs or 'none'})", file=sys.stderr)
        return 130
    except ChaosError as exc:
        print(f"chaos: could not run: {exc}", file=sys.stderr)
        return 2
    finally:
        for stack in LIVE_STACKS:
            stack.kill_all_now()
    print(render(result), flush=True)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
