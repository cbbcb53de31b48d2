"""Latency benchmark: from one alert sent to the response's first action reaching the tool, against bare Temporal.

    .venv/bin/python bench/latency.py [--rates 5,20 --seconds 20]

One run starts `xorb dev` (temp data dir, every port 0, default 600 s correlation window, no TI feed, so the
bundled policy observes and the built-in plan's one step, notify.webhook, is the first action) with its webhook
pointed at a recording receiver in this process. For each rate, two phases, in this order:

  service  alerts, each its own correlation key, one per request to POST /v1/alerts on a fixed send grid;
           latency = the incident's first webhook POST arriving - the alert's scheduled send time
  bare     on the same Temporal server, the minimal workflow of bench/bare_temporal.py (3 activities in
           sequence, the first POSTs to the same receiver) started with client.start_workflow on the same
           grid, its worker in this process;
           latency = the first activity's POST arriving - the start call's scheduled time

Each phase sends WARMUP items (not counted) and then RATE x SECONDS measured ones on the same grid; after it,
the Temporal histories of a few of its workflows say where the time went. Then (--capacity) N bare workflows
are run to completion as fast as 32 callers can. It prints per rate the service's and the bare p50 / p99 and
their ratios, and whether the service kept up (its p50 in the last quarter of the phase against the first).
The result goes to bench/results/latency-<UTC timestamp>.json; see bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from bare_temporal import BareWorkflow, bare_worker, run_flat_out
from ingest import (
    RESULTS_DIR,
    BenchError,
    Started,
    _clean_env,
    cpu_snapshot,
    machine_info,
    run_bench,
    start_xorb_dev,
)
from receiver import Receiver
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

WARMUP = 20  # items sent at the start of every phase, on its grid, and not counted
RAW_CAP = 5_000  # raw latencies kept per phase in the JSON
SETTLE_SECONDS = 5.0  # after a phase's last action arrived, so the next phase starts quiet
HISTORY_SAMPLES = 20  # workflows per phase whose history is read for the breakdown
# Issue 15's goals: at 5/s the service's p50 within 1.5x and its p99 within 2x the bare start -> first activity.
GOAL_RATE = 5.0
P50_GOAL, P99_GOAL = 1.5, 2.0
P50_GOAL_AT_20 = 2.0  # at 20/s: keeps up, and its p50 within 2x the bare one
# "Kept up": the p50 of the last quarter of the measured sends is at most this much above the first quarter's
# (relative, or absolute in ms, whichever is larger), the first quarter's p50 is shorter than the time that quarter
# took to send, no action is missing and the grid was kept.
KEEP_UP_GROWTH, KEEP_UP_SLACK_MS = 0.5, 50.0


# --- the sender: one coroutine, a fixed grid --------------------------------------------------------------------


@dataclass
class Send:
    seq: int
    scheduled: float  # monotonic: the send time the latency is counted from
    wall: float  # time.time() at the scheduled time
    lag: float = 0.0  # how late the request actually left (the loop was busy)
    ident: str | None = None  # incident id (202 answer) or workflow id (start returned)
    answered: float | None = None  # monotonic: 202 received / start_workflow returned
    error: str | None = None


async def run_grid(rate: float, count: int, fire: Callable[[int], Awaitable[str]]) -> list[Send]:
    """Call `fire(i)` at t0 + i / rate for i < count, each call in its own task so a slow answer never delays
    the next send; a late loop keeps the schedule (the lag is recorded, the latency counts from the grid)."""
    mono0, wall0 = time.monotonic() + 0.2, time.time() + 0.2
    sends = [Send(i, mono0 + i / rate, wall0 + i / rate) for i in range(count)]

    async def one(send: Send) -> None:
        try:
            send.ident = await fire(send.seq)
        except Exception as exc:  # counted and reported, never retried
            send.error = f"{type(exc).__name__}: {str(exc)[:200]}"
        send.answered = time.monotonic()

    tasks = []
    for send in sends:
        delay = send.scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        send.lag = max(0.0, time.monotonic() - send.scheduled)
        tasks.append(asyncio.create_task(one(send)))
    await asyncio.gather(*tasks)
    return sends


async def wait_for_actions(receiver: Receiver, sends: list[Send], deadline: float) -> None:
    pending = [s.ident for s in sends if s.ident is not None]
    while pending and time.monotonic() < deadline:
        pending = [ident for ident in pending if receiver.first_of(ident) is None]
        await asyncio.sleep(0.1)


# --- statistics ---------------------------------------------------------------------------------------------


def percentiles_ms(values: list[float]) -> dict[str, float]:
    """p50/p90/p99/max of seconds, in ms (nearest rank, as bench/ingest.py)."""
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(ordered[-1] * 1000, 1)}


def phase_stats(receiver: Receiver, sends: list[Send], rate: float, timeout: float) -> dict[str, Any]:
    measured = sends[WARMUP:]
    latencies: list[float] = []  # in send order
    missing: list[str] = []
    last_action = 0.0
    answer: list[float] = []
    for send in measured:
        if send.ident is None:
            continue
        if send.answered is not None:
            answer.append(send.answered - send.scheduled)
        arrival = receiver.first_of(send.ident)
        if arrival is None:
            missing.append(send.ident)
        else:
            latencies.append(arrival.monotonic - send.scheduled)
            last_action = max(last_action, arrival.monotonic)
    errors = [s.error for s in measured if s.error is not None]
    span = (measured[-1].scheduled + measured[-1].lag) - (measured[0].scheduled + measured[0].lag)
    quarter = max(1, len(latencies) // 4)
    first_q = statistics.median(latencies[:quarter]) * 1000 if latencies else 0.0
    last_q = statistics.median(latencies[-quarter:]) * 1000 if latencies else 0.0
    lags = [s.lag for s in measured]
    achieved = (len(measured) - 1) / span if span > 0 else 0.0
    kept_up = (
        bool(latencies)
        and not missing
        and not errors
        and last_q <= max(first_q * (1 + KEEP_UP_GROWTH), first_q + KEEP_UP_SLACK_MS)
        # An overloaded stack runs its incidents side by side, so even the first ones wait for the whole backlog:
        # their p50 then exceeds the time the first quarter took to send, and the quarters alone cannot tell.
        and first_q <= span / 4 * 1000
        and achieved >= 0.95 * rate
    )
    return {
        "rate": rate,
        "sent": len(measured),
        "count": len(latencies),
        "send_errors": len(errors),
        "send_error_examples": errors[:5],
        "no_action_within_timeout": len(missing),
        "no_action_examples": missing[:5],
        "timeout_s": timeout,
        "latency_ms": percentiles_ms(latencies),
        "first_quarter_p50_ms": round(first_q, 1),
        "last_quarter_p50_ms": round(last_q, 1),
        "kept_up": kept_up,
        # The last measured action after the last measured send: far above the p50 when a backlog built up.
        "drain_ms": round((last_action - measured[-1].scheduled) * 1000, 1) if latencies else None,
        "achieved_rate": round(achieved, 2),
        "send_lag_ms": {"p50": round(statistics.median(lags) * 1000, 2), "max": round(max(lags) * 1000, 2)},
        "answer_ms": percentiles_ms(answer),  # scheduled send -> 202 received / start_workflow returned
        "latencies_ms": [round(x * 1000, 2) for x in latencies[:RAW_CAP]],
    }


# --- where the time goes: Temporal's history of a few workflows per phase -------------------------------------


SEGMENTS = (
    "to_workflow_started",  # send -> WorkflowExecutionStarted (API intake and the start/signal call)
    "workflow_tasks_waiting",  # workflow tasks scheduled -> picked up by a worker
    "workflow_tasks_running",  # workflow tasks picked up -> completed
    "activities_before",  # activities scheduled -> completed before the first action was scheduled (overlaps once)
    "other_waiting",  # the rest until the first action was scheduled: signals, timers
    "first_action_to_tool",  # the first action's ActivityTaskScheduled -> its POST arrived
)


def _covered(spans: list[tuple[float, float]], before: float = float("inf")) -> float:
    """The time covered by these intervals up to `before`, counting overlaps once."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        end = min(end, before)
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def _by_priority(kinds: dict[str, list[tuple[float, float]]], before: float) -> dict[str, float]:
    """Time per kind up to `before`, each moment counted once for the first kind (in order) busy then: activities
    run beside workflow tasks when an incident starts two at once, and the segments must still add up."""
    seen: list[tuple[float, float]] = []
    spent = {}
    for kind, spans in kinds.items():
        covered_before = _covered(seen, before)
        seen = seen + spans
        spent[kind] = _covered(seen, before) - covered_before
    return spent


async def history_breakdown(client: Client, receiver: Receiver, sends: list[Send], first_action: str) -> dict[str, Any]:
    """Where the time goes, from Temporal's history of up to HISTORY_SAMPLES measured workflows (evenly spread):
    each event up to the first action's ActivityTaskStarted as ms since the scheduled send, and SEGMENTS,
    medians over the workflows read. Event times are the server's clock, sends and arrivals time.time()."""
    measured = [s for s in sends[WARMUP:] if s.ident is not None and receiver.first_of(s.ident) is not None]
    step = max(1, len(measured) // HISTORY_SAMPLES)
    marks: dict[str, list[float]] = {}
    segments: dict[str, list[float]] = {name: [] for name in (*SEGMENTS, "workflow_tasks")}
    order: list[str] = []
    for send in measured[::step][:HISTORY_SAMPLES]:
        assert send.ident is not None
        arrival = receiver.first_of(send.ident)
        try:
            history = await client.get_workflow_handle(send.ident).fetch_history()
        except Exception:
            continue
        activity_of: dict[int, str] = {}
        at: dict[int, float] = {}  # event id -> ms since send
        seen: dict[str, int] = {}
        spent = dict.fromkeys(SEGMENTS, 0.0)
        tasks = 0
        action_scheduled: float | None = None
        spans: dict[str, list[tuple[float, float]]] = {
            "workflow_tasks_running": [], "workflow_tasks_waiting": [], "activities_before": []
        }  # fmt: skip
        for event in history.events:
            ms = (event.event_time.ToMicroseconds() / 1e6 - send.wall) * 1000
            at[event.event_id] = ms
            kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()
            label = kind
            if event.HasField("workflow_execution_started_event_attributes"):
                spent["to_workflow_started"] = ms
            elif event.HasField("workflow_task_started_event_attributes"):
                scheduled = event.workflow_task_started_event_attributes.scheduled_event_id
                spans["workflow_tasks_waiting"].append((at.get(scheduled, ms), ms))
                tasks += 1
            elif event.HasField("workflow_task_completed_event_attributes"):
                started = event.workflow_task_completed_event_attributes.started_event_id
                spans["workflow_tasks_running"].append((at.get(started, ms), ms))
            elif event.HasField("activity_task_scheduled_event_attributes"):
                name = event.activity_task_scheduled_event_attributes.activity_type.name
                activity_of[event.event_id] = name
                label = f"{kind} {name}"
                if name == first_action and action_scheduled is None:
                    action_scheduled = ms
            elif event.HasField("activity_task_started_event_attributes"):
                label = f"{kind} {activity_of.get(event.activity_task_started_event_attributes.scheduled_event_id)}"
            elif event.HasField("activity_task_completed_event_attributes"):
                scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
                label = f"{kind} {activity_of.get(scheduled)}"
                spans["activities_before"].append((at.get(scheduled, ms), ms))
            elif event.HasField("workflow_execution_signaled_event_attributes"):
                label = f"{kind} {event.workflow_execution_signaled_event_attributes.signal_name}"
            elif event.HasField("marker_recorded_event_attributes"):
                label = f"{kind} {event.marker_recorded_event_attributes.marker_name}"
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:
                label = f"{label} #{seen[label]}"
            if label not in marks:
                order.append(label)
            marks.setdefault(label, []).append(ms)
            if label == f"activity_task_started {first_action}":
                break
        if action_scheduled is None or arrival is None:
            continue
        spent.update(_by_priority(spans, action_scheduled))
        spent["first_action_to_tool"] = (arrival.wall - send.wall) * 1000 - action_scheduled
        spent["other_waiting"] = action_scheduled - sum(v for k, v in spent.items() if k != "first_action_to_tool")
        for name, value in spent.items():
            segments[name].append(value)
        segments["workflow_tasks"].append(float(tasks))
    return {
        "workflows_read": len(segments["workflow_tasks"]),
        "segments_ms": {name: round(statistics.median(v), 1) for name, v in segments.items() if v},
        "events_ms_since_send": {label: round(statistics.median(marks[label]), 1) for label in order},
        "events_seen_in": {label: len(marks[label]) for label in order},
    }


# --- the run ---------------------------------------------------------------------------------------------------


def _ip(n: int) -> str:
    n += 1
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


@dataclass
class Run:
    args: argparse.Namespace
    name: str
    receiver: Receiver
    api: httpx.AsyncClient
    client: Client
    task_queue: str
    watched: dict[str, int]
    alerts_sent: int = 0
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)

    def alert(self, label: str, seq: int) -> bytes:
        n = self.alerts_sent
        self.alerts_sent += 1
        return json.dumps(
            {
                "id": f"{self.name}-{label}-{seq}",
                "title": "Outbound connection to a known scanner",
                "severity": "medium",
                "source": f"bench-latency-{self.name}",
                "rule": f"bench latency {label} {seq}",  # own rule and own src_ip: its own incident
                "observables": {"src_ip": _ip(n), "dest_ip": "192.0.2.10"},
                "techniques": ["T1046"],
            }
        ).encode()

    async def phase(self, kind: str, rate: float) -> dict[str, Any]:
        label = f"{kind}@{rate:g}"
        count = WARMUP + round(rate * self.args.seconds)
        hook = self.receiver.url(f"/{kind}")

        async def fire_service(seq: int) -> str:
            response = await self.api.post("/v1/alerts", content=self.alert(label, seq))
            if response.status_code != 202:
                raise BenchError(f"answered {response.status_code}: {response.text[:200]}")
            return str(response.json()["incident_id"])

        async def fire_bare(seq: int) -> str:
            ident = f"bare-{self.name}-{rate:g}-{seq}"
            await self.client.start_workflow(BareWorkflow.run, hook, id=ident, task_queue=self.task_queue)
            return ident

        cpu_before, bench_before = cpu_snapshot(self.watched), time.process_time()
        phase_start = time.monotonic()
        sends = await run_grid(rate, count, fire_service if kind == "service" else fire_bare)
        await wait_for_actions(self.receiver, sends, sends[-1].scheduled + self.args.timeout)
        wall = time.monotonic() - phase_start
        cpu_after, bench_after = cpu_snapshot(self.watched), time.process_time()
        stats = phase_stats(self.receiver, sends, rate, self.args.timeout)
        stats["cpu_cores"] = {
            name: round((cpu_after[name] - cpu_before.get(name, 0.0)) / wall, 2) for name in cpu_after
        } | {"bench_process": round((bench_after - bench_before) / wall, 2)}
        first_action = "notify.webhook" if kind == "service" else "bare_notify"
        await self.settle()
        stats["breakdown"] = await history_breakdown(self.client, self.receiver, sends, first_action)
        self.phases[label] = stats
        lat = stats["latency_ms"]
        print(
            f"  {label:<12} {stats['count']:>4}/{stats['sent']} actions  p50 {lat.get('p50', 0):7.1f} ms  "
            f"p90 {lat.get('p90', 0):7.1f}  p99 {lat.get('p99', 0):7.1f}  max {lat.get('max', 0):7.1f}  "
            f"missing {stats['no_action_within_timeout']}  errors {stats['send_errors']}  "
            f"sent {stats['achieved_rate']:.2f}/s (lag max {stats['send_lag_ms']['max']:.0f} ms)  "
            f"quarters p50 {stats['first_quarter_p50_ms']:.0f} -> {stats['last_quarter_p50_ms']:.0f} ms  "
            f"last action {stats['drain_ms'] or 0:.0f} ms after the last send",
            flush=True,
        )
        seg = stats["breakdown"]["segments_ms"]
        if seg:
            print(
                f"  {'':<12} median ms: to workflow start {seg['to_workflow_started']:.0f}, "
                f"{seg['workflow_tasks']:.0f} workflow tasks waiting {seg['workflow_tasks_waiting']:.0f} "
                f"+ running {seg['workflow_tasks_running']:.0f}, activities before {seg['activities_before']:.0f}, "
                f"other waiting {seg['other_waiting']:.0f}, first action scheduled -> tool "
                f"{seg['first_action_to_tool']:.0f}",
                flush=True,
            )
        return stats

    async def settle(self) -> None:
        """Until no action has arrived for a second, then SETTLE_SECONDS: the stack finishes what it started."""
        while time.monotonic() - self.receiver.last_arrival() < 1.0:
            await asyncio.sleep(0.2)
        await asyncio.sleep(SETTLE_SECONDS)

    async def capacity(self, total: int, concurrency: int = 32) -> dict[str, Any]:
        """Optional: bare workflows (3 activities each) run to completion as fast as `concurrency` callers can."""
        ids = [f"bare-capacity-{self.name}-{seq}" for seq in range(total)]
        return await run_flat_out(self.client, self.task_queue, self.receiver.url("/capacity"), ids, concurrency)


async def _run(args: argparse.Namespace, name: str, work: Path, started: Started, result: dict[str, Any]) -> int:
    receiver = Receiver()
    try:
        env, removed = _clean_env()
        env["XORB_NOTIFY_WEBHOOK_URLS"] = receiver.url("/service")
        if args.max_parallel is not None:
            env["MAX_PARALLEL_WORKFLOWS"] = str(args.max_parallel)
        result["parameters"] = {
            "max_parallel_workflows": args.max_parallel or "default (10)",
            "rates": args.rates,
            "seconds": args.seconds,
            "warmup": WARMUP,
            "timeout_s": args.timeout,
            "settle_s": SETTLE_SECONDS,
            "correlation_window_s": "default (600)",
            "env_not_passed": removed,
            "sender": "one asyncio coroutine on a fixed grid, httpx AsyncClient keep-alive; latency from the grid",
            "receiver": "ThreadingHTTPServer (HTTP/1.1 keep-alive) in the bench process; arrival at headers read",
            "bare": "3 activities in sequence, first POSTs to the receiver; worker in the bench process, unsandboxed",
        }
        result["machine"] = machine_info()
        print(
            f"latency bench {name}: rates {', '.join(f'{r:g}/s' for r in args.rates)}, {args.seconds:g} s each "
            f"after {WARMUP} warm-up sends; {result['machine']['cores']} cores, "
            f"load average {result['machine']['load_average']}",
            flush=True,
        )
        data_dir = work / "data"
        api_url, api_key = start_xorb_dev(started, data_dir, env)
        temporal_address = json.loads((data_dir / "endpoints.json").read_text())["temporal_address"]
        client = await Client.connect(temporal_address, namespace="default")
        task_queue = f"bench-latency-{name}"
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with (
            httpx.AsyncClient(limits=limits, timeout=30.0) as tool_http,
            httpx.AsyncClient(
                base_url=api_url,
                headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
                limits=limits,
                timeout=60.0,
            ) as api,
        ):
            worker = bare_worker(client, task_queue, tool_http)
            watched = {"xorb_api_worker": started.servers[0].pid}
            run = Run(args, name, receiver, api, client, task_queue, watched)
            async with worker:
                for rate in args.rates:
                    await run.phase("service", rate)
                    await run.phase("bare", rate)
                if args.capacity:
                    result["bare_capacity"] = await run.capacity(args.capacity)
                    cap = result["bare_capacity"]
                    print(
                        f"  bare capacity  {cap['workflows']} workflows to completion in {cap['seconds']:.2f} s "
                        f"({cap['per_s']:.1f}/s, {cap['concurrency']} callers)",
                        flush=True,
                    )
        return report(args, name, run.phases, result)
    finally:
        receiver.stop()


def report(args: argparse.Namespace, name: str, phases: dict[str, dict[str, Any]], result: dict[str, Any]) -> int:
    rows: dict[str, dict[str, Any]] = {}
    print("\nalert -> first action, service vs bare Temporal start -> first activity:")
    for rate in args.rates:
        service, bare = phases[f"service@{rate:g}"]["latency_ms"], phases[f"bare@{rate:g}"]["latency_ms"]
        p50 = round(service["p50"] / bare["p50"], 2) if service and bare else None
        p99 = round(service["p99"] / bare["p99"], 2) if service and bare else None
        kept = phases[f"service@{rate:g}"]
        rows[f"{rate:g}"] = {"p50_ratio": p50, "p99_ratio": p99, "service_kept_up": kept["kept_up"]}
        print(
            f"  {rate:>4g}/s  service p50 {service.get('p50', 0):6.0f} ms p99 {service.get('p99', 0):6.0f} ms | "
            f"bare p50 {bare.get('p50', 0):5.0f} ms p99 {bare.get('p99', 0):5.0f} ms | "
            f"{p50 or 0:.1f}x / {p99 or 0:.1f}x | kept up: {'yes' if kept['kept_up'] else 'NO'} "
            f"(p50 first quarter {kept['first_quarter_p50_ms']:.0f} ms, last {kept['last_quarter_p50_ms']:.0f} ms)"
        )
    goals: dict[str, Any] = {}
    at_goal = rows.get(f"{GOAL_RATE:g}")
    if at_goal and at_goal["p50_ratio"] is not None:
        goals["p50_at_5_per_s"] = {"target": P50_GOAL, "value": at_goal["p50_ratio"]}
        goals["p99_at_5_per_s"] = {"target": P99_GOAL, "value": at_goal["p99_ratio"]}
        goals["p50_at_5_per_s"]["met"] = at_goal["p50_ratio"] <= P50_GOAL
        goals["p99_at_5_per_s"]["met"] = at_goal["p99_ratio"] <= P99_GOAL
    if "20" in rows:
        goals["keeps_up_at_20_per_s"] = {"met": rows["20"]["service_kept_up"]}
        if rows["20"]["p50_ratio"] is not None:
            p50_20 = rows["20"]["p50_ratio"]
            goals["p50_at_20_per_s"] = {"target": P50_GOAL_AT_20, "value": p50_20, "met": p50_20 <= P50_GOAL_AT_20}
    for goal, value in goals.items():
        target = f" (target <= {value['target']}x, got {value['value']}x)" if "target" in value else ""
        print(f"  goal {goal}: {'met' if value['met'] else 'NOT MET'}{target}")
    load = result["machine"]["load_average"]
    cores = result["machine"]["cores"]
    if load and load[0] > 0.25 * (cores or 1):
        print(f"note: the load average was {load[0]} on {cores} cores when the run began: other work shared the CPU")
    result.update(phases=phases, ratios=rows, goals=goals)
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"latency-{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"result: {out}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rates", default="5,20", help="send rates, alerts (or starts) per second (default 5,20)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per phase (default 20)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds after the last send to wait (60)")
    parser.add_argument("--capacity", type=int, default=200, help="then N bare workflows flat out (200; 0: skip)")
    parser.add_argument(
        "--keep-work", action="store_true", help="keep the temp data dir and logs (removed otherwise, also on failure)"
    )
    parser.add_argument(
        "--max-parallel", type=int, default=None, help="MAX_PARALLEL_WORKFLOWS of the service (default: xorb's, 10)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default bench/results)")
    args = parser.parse_args(argv)
    try:
        args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    except ValueError:
        parser.error("--rates: comma-separated numbers, e.g. 5,20")
    if not args.rates or min(args.rates) <= 0 or args.seconds <= 0 or args.timeout <= 0 or args.capacity < 0:
        parser.error("need rates > 0, --seconds > 0, --timeout > 0, --capacity >= 0")
    if args.max_parallel is not None and args.max_parallel < 1:
        parser.error("--max-parallel must be at least 1")
    if min(round(r * args.seconds) for r in args.rates) < 4:
        parser.error("each phase needs at least 4 measured sends (rate x seconds)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = datetime.now(UTC)
    name = started_at.strftime("%Y%m%dT%H%M%SZ")
    work = Path(tempfile.mkdtemp(prefix="xorb-bench-latency-"))
    started = Started()
    result: dict[str, Any] = {"benchmark": "latency", "started_at": started_at.isoformat(timespec="seconds")}
    return run_bench(
        "latency", work, started, args.keep_work, lambda: asyncio.run(_run(args, name, work, started, result))
    )


if __name__ == "__main__":
    sys.exit(main())
