"""Playbook benchmark: what answering an incident with a playbook costs, against the built-in plan.

    .venv/bin/python bench/playbooks.py [--incidents 200]

One run starts `xorb dev` (temp data dir, every port 0, correlation window 0 so incidents close when their
response ends, MAX_PARALLEL_WORKFLOWS = --max-parallel, by default the incidents per phase so the cap never
limits) with a recording webhook receiver (bench/receiver.py) and a playbooks directory of two playbooks,
then runs, in this order:

  built_in       technique T1059: no playbook matches, the built-in plan runs one notify.webhook step
  bare           the baseline: as many hand-written 3-activity workflows (bench/bare_temporal.py, the first
                 POSTs to the same receiver) on the same Temporal server, all started at once, worker in
                 this process
  playbook       technique T1071.001: a playbook of one notify.webhook step, run as the incident's child workflow
  playbook_rich  technique T1486: parallel (2 notifies), if, for_each over 3 items (data.set), notify: 9 steps

The incident phases send their incidents (each its own correlation key) as NDJSON at once. For each phase it
measures the wall-clock time from the first alert sent (workflow started) until every incident (workflow)
finished, and each one's own time; it prints built_in / bare and each playbook / built_in, all measured in the
same run, against issue 15's goals. The result goes to bench/results/playbooks-<UTC timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from bare_temporal import bare_worker, run_flat_out
from ingest import (
    RESULTS_DIR,
    BenchError,
    Started,
    _clean_env,
    _stop_signals_as_interrupt,
    incidents_of,
    machine_info,
    start_xorb_dev,
)
from receiver import Receiver
from temporalio.client import Client

ONE_STEP = """
id: bench-one-step
name: One notification
version: "1"
tags: [T1071.001]
steps:
  - {id: notify, action: notify.webhook, args: {text: "incident ${{ incident.id }}"}}
"""
RICH = """
id: bench-rich
name: Every block kind without people
version: "1"
tags: [T1486]
steps:
  - id: tell
    parallel:
      - [{id: tell-soc, action: notify.webhook, args: {text: "soc ${{ incident.id }}"}}]
      - [{id: tell-it, action: notify.webhook, args: {text: "it ${{ incident.id }}"}}]
  - id: severe
    if: "incident.severity_id >= 4"
    then:
      - id: each
        for_each: "['a', 'b', 'c']"
        max_items: 10
        concurrency: 3
        steps: [{id: note, action: data.set, args: {item: "${{ item }}"}}]
  - {id: done, action: notify.webhook, args: {text: "done ${{ incident.id }}"}}
"""
PHASES = {"built_in": "T1059", "playbook": "T1071.001", "playbook_rich": "T1486"}
WARMUP = 20  # incidents (and bare workflows) run before the measured phases, not counted
# Issue 15's goals: the built-in plan at least as many incidents/s as the bare workflow; playbooks against it.
GOALS = {"built_in_vs_bare": 1.0, "playbook_vs_built_in": 0.9, "playbook_rich_vs_built_in": 0.7}


def c2(n: int) -> str:
    """The external address alert `n` beacons to (the benchmarking range 198.18.0.0/15, listed in the bench feed)."""
    return f"198.{18 + n // 65536 % 2}.{n // 256 % 256}.{n % 256}"


# The response policy of the run: a playbook runs on its own when its alert's address is a live TI hit (the feed
# lists every address), as the bundled policy's auto rule does, minus its tag and score conditions.
POLICY = """
version: 1
name: bench
rules:
  - {name: act-on-hits, targets: {hit: true}, playbook: candidate, autonomy: auto}
  - {name: observe, playbook: none, autonomy: observe}
"""


def alerts(source: str, technique: str, count: int) -> bytes:
    lines = [
        json.dumps(
            {
                "title": "bench incident",
                "severity": "high",
                "source": source,
                "rule": f"{source}-{n}",  # each alert its own correlation key: one incident each
                "observables": {"src_ip": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}", "dest_ip": c2(n)},
                "techniques": [technique],
            }
        )
        for n in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


# Each plan's last step: its notify reaching the receiver is the incident's response done. Timing phases by these
# arrivals, not by polling GET /v1/incidents, keeps the bench from loading the service it measures (listing every
# incident four times a second cost the service about a quarter of its CPU; the bare baseline has no such load).
FINAL_STEP = {"built_in": "notify-1", "playbook": "notify", "playbook_rich": "done"}


def wait_for_finals(receiver: Receiver, step: str, since: float, count: int, deadline: float) -> float:
    """When the `count`-th distinct incident's `step` reached the receiver (monotonic), after `since`."""
    while True:
        firsts: dict[str, float] = {}  # a retried post of the same step counts once
        with receiver._lock:
            for arrival in receiver.arrivals:
                if arrival.monotonic >= since and arrival.key.endswith("/" + step):
                    firsts.setdefault(arrival.key, arrival.monotonic)
        finals = sorted(firsts.values())
        distinct = len(finals)
        if distinct >= count:
            return finals[count - 1]
        if time.monotonic() > deadline:
            raise BenchError(f"{distinct} of {count} responses reached the receiver in time")
        time.sleep(0.05)


def run_phase(
    http: httpx.Client, receiver: Receiver, phase: str, source: str, count: int, timeout: float
) -> dict[str, Any]:
    technique = PHASES[phase]
    body = alerts(source, technique, count)
    started = time.monotonic()
    for chunk in range(0, count, 100):
        part = b"\n".join(body.splitlines()[chunk : chunk + 100]) + b"\n"
        response = http.post("/v1/alerts/generic", content=part, headers={"Content-Type": "application/x-ndjson"})
        if response.status_code != 202:
            raise BenchError(f"{source}: POST answered {response.status_code}: {response.text[:200]}")
    finished = wait_for_finals(receiver, FINAL_STEP[phase], started, count, started + timeout)
    seconds = finished - started
    while True:  # then every incident must read finished (not timed: a poll a second)
        items = incidents_of(http, source)
        done = [i for i in items if i["status"] in ("completed", "closed", "failed")]
        if len(items) == count and len(done) == count:
            break
        if time.monotonic() - started > timeout:
            raise BenchError(f"{source}: {len(done)} of {count} incidents finished within {timeout:.0f} s")
        time.sleep(1.0)
    failed = [i["incident_id"] for i in done if i["status"] == "failed"]
    if failed:
        raise BenchError(f"{source}: {len(failed)} incidents failed, e.g. {failed[0]}")
    latencies = sorted(
        (datetime.fromisoformat(i["updated_at"]) - datetime.fromisoformat(i["created_at"])).total_seconds()
        for i in done
    )
    return {
        "incidents": count,
        "seconds": round(seconds, 2),
        "incidents_per_s": round(count / seconds, 2),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "playbooks": sorted({i["plan"]["playbook"] for i in done}),
    }


async def run_bare(temporal_address: str, url: str, stamp: str, count: int) -> dict[str, Any]:
    """The baseline on the service's own Temporal server: `count` bare workflows started at once, as the
    incident phases send theirs, run to completion; after WARMUP of them (first imports and connections)."""
    client = await Client.connect(temporal_address, namespace="default")
    task_queue = f"bench-playbooks-{stamp}"
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as http, bare_worker(client, task_queue, http):
        warm = [f"bare-warmup-{stamp}-{n}" for n in range(WARMUP)]
        await run_flat_out(client, task_queue, url, warm, WARMUP)
        ids = [f"bare-{stamp}-{n}" for n in range(count)]
        return await run_flat_out(client, task_queue, url, ids, count)


def report(phases: dict[str, dict[str, Any]], bare: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """Print each phase, its ratios and the goals; returns (ratios, goals)."""
    base = phases["built_in"]
    for name, measured in phases.items():
        measured["throughput_ratio"] = round(measured["incidents_per_s"] / base["incidents_per_s"], 2)
        measured["latency_p50_ratio"] = round(measured["latency_p50_s"] / base["latency_p50_s"], 2)
        print(
            f"{name:<14} {measured['incidents']} incidents in {measured['seconds']:>6.2f} s "
            f"({measured['incidents_per_s']:>6.2f}/s, {measured['throughput_ratio']:.2f}x built_in); "
            f"latency p50 {measured['latency_p50_s']:.3f} s ({measured['latency_p50_ratio']:.2f}x), "
            f"p95 {measured['latency_p95_s']:.3f} s; plan {', '.join(measured['playbooks'])}",
            flush=True,
        )
    print(
        f"{'bare':<14} {bare['workflows']} workflows in {bare['seconds']:>6.2f} s ({bare['per_s']:>6.2f}/s); "
        f"start -> result p50 {bare['latency_p50_s']:.3f} s, p95 {bare['latency_p95_s']:.3f} s",
        flush=True,
    )
    ratios = {
        "built_in_vs_bare": round(base["incidents_per_s"] / bare["per_s"], 2),
        "playbook_vs_built_in": phases["playbook"]["throughput_ratio"],
        "playbook_rich_vs_built_in": phases["playbook_rich"]["throughput_ratio"],
    }
    goals = {
        name: {"target": GOALS[name], "value": value, "met": value >= GOALS[name]} for name, value in ratios.items()
    }
    print("\nincidents/s ratios, measured in this run (issue 15's goals):")
    for name, goal in goals.items():
        met = "met" if goal["met"] else "NOT MET"
        print(f"  {name:<26} {goal['value']:.2f}x  (target >= {goal['target']}x: {met})")
    return ratios, goals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=200, help="incidents per phase (default 200)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a phase may take")
    parser.add_argument(
        "--max-parallel",
        type=int,
        default=None,
        help="MAX_PARALLEL_WORKFLOWS of the run (default: --incidents, so the cap never limits; 10 is xorb's default)",
    )
    args = parser.parse_args(argv)
    if args.incidents < 1 or (args.max_parallel is not None and args.max_parallel < 1):
        parser.error("need --incidents >= 1 and --max-parallel >= 1")
    max_parallel = args.max_parallel or max(args.incidents, WARMUP)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = Path(tempfile.mkdtemp(prefix="xorb-bench-playbooks-"))
    started = Started()
    receiver = Receiver()  # the tool of both the service's notify.webhook and the bare workflow
    result: dict[str, Any] = {"benchmark": "playbooks", "started_at": stamp, "machine": machine_info()}
    try:
        playbooks = work / "playbooks"
        playbooks.mkdir()
        (playbooks / "one-step.yaml").write_text(ONE_STEP)
        (playbooks / "rich.yaml").write_text(RICH)
        (work / "policy.yaml").write_text(POLICY)
        listed = max(args.incidents, WARMUP)
        seen = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        (work / "c2.csv").write_text("ip,seen\n" + "".join(f"{c2(n)},{seen}\n" for n in range(listed)))
        (work / "feeds.yaml").write_text(
            f"feeds: [{{name: bench-c2, type: csv, url: {work / 'c2.csv'}, kind: ipv4, score: 95, confidence: 95,"
            " columns: {value: ip, last_seen: seen}}]\n"
        )
        env, _ = _clean_env()
        env |= {
            "XORB_POLICY_FILE": str(work / "policy.yaml"),
            "XORB_TI_FEEDS_FILE": str(work / "feeds.yaml"),
            "XORB_PLAYBOOKS_DIR": str(playbooks),
            "XORB_NOTIFY_WEBHOOK_URLS": receiver.url("/service"),
            "XORB_CORRELATION_WINDOW_SECONDS": "0",
            "MAX_PARALLEL_WORKFLOWS": str(max_parallel),
        }
        print(
            f"playbooks bench {stamp}: {args.incidents} incidents a phase, MAX_PARALLEL_WORKFLOWS {max_parallel}; "
            f"{result['machine']['cores']} cores, load average {result['machine']['load_average']}",
            flush=True,
        )
        api_url, api_key = start_xorb_dev(started, work / "data", env)
        temporal_address = json.loads((work / "data" / "endpoints.json").read_text())["temporal_address"]
        http = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30.0)
        synced = http.post("/v1/ti/feeds/bench-c2/sync", params={"wait": 120}, timeout=150)
        if synced.status_code != 200:
            raise BenchError(f"the bench feed did not sync: {synced.status_code} {synced.text[:200]}")
        run_phase(http, receiver, "playbook_rich", f"bench-warmup-{stamp}", WARMUP, args.timeout)
        phases: dict[str, dict[str, Any]] = {}
        bare: dict[str, Any] = {}
        for name in PHASES:
            phases[name] = run_phase(http, receiver, name, f"bench-{name}-{stamp}", args.incidents, args.timeout)
            if name == "built_in":  # right after it, so both see the machine as alike as can be
                bare = asyncio.run(run_bare(temporal_address, receiver.url("/bare"), stamp, args.incidents))
        ratios, goals = report(phases, bare)
        result["parameters"] = {
            "incidents": args.incidents,
            "max_parallel_workflows": max_parallel,
            "warmup": WARMUP,
            "correlation_window_s": 0,
            "bare": "3 activities in sequence, first POSTs to the receiver; all started at once, worker in the bench "
            "process, unsandboxed",
        }
        result.update(phases=phases, bare=bare, ratios=ratios, goals=goals)
        result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        RESULTS_DIR.mkdir(exist_ok=True)
        out = RESULTS_DIR / f"playbooks-{stamp}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        load, cores = result["machine"]["load_average"], result["machine"]["cores"]
        if load and load[0] > 0.25 * (cores or 1):
            print(
                f"note: the load average was {load[0]} on {cores} cores when the run began: other work shared the CPU"
            )
        print(f"wrote {out}")
        return 0
    except BenchError as exc:
        print(f"playbooks bench: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("playbooks bench: interrupted", file=sys.stderr)
        return 130
    finally:
        started.stop()
        receiver.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    with _stop_signals_as_interrupt():  # so `finally` stops what the run started, also on SIGTERM
        code = main()
    sys.exit(code)
