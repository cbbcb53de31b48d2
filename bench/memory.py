"""Memory benchmark: resident memory of the embedded stack, idle and with N incidents open.

    .venv/bin/python bench/memory.py [--incidents 1000 --batch 100]

One run starts `xorb dev` as ingest.py does (temp data dir, every port 0, inherited settings not passed on) with
XORB_CORRELATION_WINDOW_SECONDS=3600 (every incident stays open for the whole run) and MAX_PARALLEL_WORKFLOWS=2000
(no incident waits for a response slot). It reads VmRSS of the xorb process (API + worker) and of its descendants
(`temporal`, `redis-server`) from /proc once the stack is quiet, sends N alerts (each its own rule and src_ip, so its
own incident) as NDJSON batches to POST /v1/alerts/generic, waits until GET /v1/incidents lists the N incidents and
the xorb process is quiet again, and reads VmRSS and VmHWM (peak) again. Goal (issue 15): API + worker <= 250 MiB with
1,000 incidents open. The result goes to bench/results/memory-<UTC timestamp>.json; see bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from ingest import (
    RESULTS_DIR,
    BenchError,
    Started,
    _children,
    _clean_env,
    _comm,
    _cpu_seconds,
    _ip,
    incidents_of,
    machine_info,
    ndjson_batches,
    run_bench,
    start_xorb_dev,
)

WINDOW_SECONDS = 3600  # every incident stays open for the run
MAX_PARALLEL_WORKFLOWS = 2000  # no incident waits for a response slot
GOAL_MIB = 250.0  # API + worker with 1,000 incidents open (issue 15)
QUIET_SECONDS = 5.0  # the xorb process is quiet when it used < QUIET_CORES over this long
QUIET_CORES = 0.02


# --- /proc ----------------------------------------------------------------------------------------------


def status_kib(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak RSS) and RssAnon of `pid`, in KiB (empty if it is gone)."""
    out: dict[str, int] = {}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon"):
            out[key] = int(value.split()[0])
    return out


def stack_pids(xorb_pid: int) -> dict[str, int]:
    """The xorb process and its descendants by role: `temporal`, `redis-server` (first of each name)."""
    found = {"xorb_api_worker": xorb_pid}
    todo = _children(xorb_pid)
    while todo:
        pid = todo.pop(0)
        comm = _comm(pid)
        label = "temporal_server" if "temporal" in comm else comm.replace("-", "_")
        found.setdefault(label, pid)
        todo += _children(pid)
    return found


def measure(pids: dict[str, int]) -> dict[str, dict[str, float]]:
    """MiB per process (rss, hwm, anon), and their sum as `total`."""
    out: dict[str, dict[str, float]] = {}
    for name, pid in pids.items():
        kib = status_kib(pid)
        if kib:
            out[name] = {
                "rss_mib": round(kib.get("VmRSS", 0) / 1024, 1),
                "hwm_mib": round(kib.get("VmHWM", 0) / 1024, 1),
                "anon_mib": round(kib.get("RssAnon", 0) / 1024, 1),
            }
    out["total"] = {key: round(sum(v[key] for v in out.values()), 1) for key in ("rss_mib", "hwm_mib", "anon_mib")}
    return out


def wait_quiet(pid: int, timeout: float) -> float:
    """Until `pid` used less than QUIET_CORES over QUIET_SECONDS; the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = _cpu_seconds(pid)
        time.sleep(QUIET_SECONDS)
        after = _cpu_seconds(pid)
        if before is None or after is None:
            raise BenchError("the xorb process is gone")
        if (after - before) / QUIET_SECONDS < QUIET_CORES:
            return round(time.monotonic() - started, 1)
    raise BenchError(f"the xorb process was not quiet within {timeout:.0f} s")


# --- alerts -----------------------------------------------------------------------------------------------


def open_alerts(run: str, source: str, count: int) -> list[dict[str, Any]]:
    """`count` alerts, each its own rule and src_ip: its own correlation key, so its own incident."""
    return [
        {
            "id": f"{run}-{i}",
            "title": "Inbound port scan",
            "severity": "medium",
            "source": source,
            "rule": f"ET SCAN bench memory {i}",
            "observables": {"src_ip": _ip(i), "dest_ip": "192.0.2.10"},
            "techniques": ["T1046"],
            "raw": {"seq": i, "sensor": "bench"},
        }
        for i in range(count)
    ]


def send_batches(http: httpx.Client, bodies: list[bytes]) -> set[str]:
    """POST each NDJSON batch (retried on 503/unavailable lines); the incident ids of the accepted alerts."""
    ids: set[str] = set()
    for body in bodies:
        lines = body.splitlines()
        for _attempt in range(10):
            response = http.post(
                "/v1/alerts/generic",
                content=b"\n".join(lines) + b"\n",
                headers={"Content-Type": "application/x-ndjson"},
            )
            if response.status_code == 503:
                time.sleep(1)
                continue
            if response.status_code != 202:
                raise BenchError(f"POST /v1/alerts/generic answered {response.status_code}: {response.text[:200]}")
            results = response.json()["results"]
            retry = []
            for line, outcome in zip(lines, results, strict=True):
                if outcome["status"] == "accepted":
                    ids.add(str(outcome["incident_id"]))
                elif outcome["status"] == "unavailable":
                    retry.append(line)
                else:
                    raise BenchError(f"an alert was {outcome['status']}: {outcome}")
            lines = retry
            if not lines:
                break
            time.sleep(1)
        if lines:
            raise BenchError(f"{len(lines)} alerts not accepted after 10 attempts")
    return ids


def wait_for_incidents(http: httpx.Client, source: str, count: int, timeout: float) -> tuple[float, int]:
    """Until GET /v1/incidents lists `count` incidents of `source`; (seconds, polls)."""
    started = time.monotonic()
    polls = 0
    while True:
        polls += 1
        found = len(incidents_of(http, source))
        if found == count:
            return round(time.monotonic() - started, 1), polls
        if found > count or time.monotonic() - started > timeout:
            raise BenchError(f"expected {count} incidents of {source}, GET /v1/incidents lists {found}")
        time.sleep(1)


# --- the run -----------------------------------------------------------------------------------------------


def _run(args: argparse.Namespace, name: str, work: Path, started: Started, result: dict[str, Any]) -> int:
    env, removed = _clean_env()
    env["XORB_CORRELATION_WINDOW_SECONDS"] = str(WINDOW_SECONDS)
    env["MAX_PARALLEL_WORKFLOWS"] = str(MAX_PARALLEL_WORKFLOWS)
    if args.max_cached is not None:
        env["XORB_MAX_CACHED_WORKFLOWS"] = str(args.max_cached)
    source = f"bench-memory-{name}"
    result["parameters"] = {
        "incidents": args.incidents,
        "batch": args.batch,
        "correlation_window_s": WINDOW_SECONDS,
        "max_parallel_workflows": MAX_PARALLEL_WORKFLOWS,
        "max_cached_workflows": args.max_cached or "default (1000)",
        "quiet": f"xorb process < {QUIET_CORES} cores over {QUIET_SECONDS:g} s",
        "source": source,
        "env_not_passed": removed,
    }
    result["machine"] = machine_info()
    print(
        f"memory bench {name}: {args.incidents} incidents, NDJSON batches of {args.batch}; "
        f"{result['machine']['cores']} cores, load average {result['machine']['load_average']}",
        flush=True,
    )
    api_url, api_key = start_xorb_dev(started, work / "data", env)
    pids = stack_pids(started.servers[0].pid)
    result["processes"] = {label: {"pid": pid, "comm": _comm(pid)} for label, pid in pids.items()}

    result["idle_wait_s"] = wait_quiet(pids["xorb_api_worker"], args.timeout)
    idle = measure(pids)
    print(f"  idle after {result['idle_wait_s']} s: xorb {idle['xorb_api_worker']['rss_mib']} MiB", flush=True)

    http = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=60.0)
    try:
        sent_at = time.monotonic()
        ids = send_batches(http, ndjson_batches(open_alerts(name, source, args.incidents), args.batch))
        send_s = round(time.monotonic() - sent_at, 1)
        if len(ids) != args.incidents:
            raise BenchError(f"{args.incidents} alerts accepted into {len(ids)} incidents, not one each")
        listed_s, polls = wait_for_incidents(http, source, args.incidents, args.timeout)
        quiet_s = wait_quiet(pids["xorb_api_worker"], args.timeout)
        loaded = measure(pids)
        statuses: dict[str, int] = {}
        for item in incidents_of(http, source):
            statuses[item.get("status", "?")] = statuses.get(item.get("status", "?"), 0) + 1
    finally:
        http.close()
    print(f"  sent in {send_s} s, listed after {listed_s} s more, quiet after {quiet_s} s more", flush=True)

    n = args.incidents
    rows = {}
    for proc in [*pids, "total"]:
        if proc not in idle or proc not in loaded:
            continue
        before, after = idle[proc]["rss_mib"], loaded[proc]["rss_mib"]
        rows[proc] = {
            "idle_mib": before,
            "open_mib": after,
            "delta_mib": round(after - before, 1),
            "mib_per_1000": round((after - before) * 1000 / n, 1),
            "peak_mib": loaded[proc]["hwm_mib"],
        }
    xorb = rows["xorb_api_worker"]
    at_1000 = xorb["open_mib"] if n == 1000 else round(xorb["idle_mib"] + xorb["mib_per_1000"], 1)
    goal = {"target_mib": GOAL_MIB, "value_mib": at_1000, "projected": n != 1000, "met": at_1000 <= GOAL_MIB}
    result.update(
        idle=idle,
        open=loaded,
        rows=rows,
        goal=goal,
        timings_s={"send": send_s, "listed_after_send": listed_s, "quiet_after_listed": quiet_s},
        list_polls=polls,
        incident_statuses=statuses,
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        load_average_at_end=[round(x, 2) for x in os.getloadavg()],
    )
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"memory-{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{'process':<18}{'idle MiB':>10}{f'{n:,} open MiB':>16}{'delta':>9}{'MiB/1,000':>11}{'peak MiB':>10}")
    for proc, row in rows.items():
        print(
            f"{proc:<18}{row['idle_mib']:>10.1f}{row['open_mib']:>16.1f}{row['delta_mib']:>9.1f}"
            f"{row['mib_per_1000']:>11.1f}{row['peak_mib']:>10.1f}"
        )
    print(f"incident statuses: {statuses}")
    how = "projected from the per-1,000 delta" if goal["projected"] else "measured"
    met = "met" if goal["met"] else "NOT MET"
    print(f"goal: API + worker <= {GOAL_MIB:.0f} MiB with 1,000 open: {at_1000:.1f} MiB ({how}): {met}")
    print(f"result: {out}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--incidents", type=int, default=1000, help="incidents to open (default 1000)")
    parser.add_argument("--batch", type=int, default=100, help="alerts per NDJSON request (default 100)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for each wait (default 300)")
    parser.add_argument("--keep-work", action="store_true", help="keep the temp data dir and logs")
    parser.add_argument(
        "--max-cached", type=int, default=None, help="XORB_MAX_CACHED_WORKFLOWS of the service (default: xorb's)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default bench/results)")
    args = parser.parse_args(argv)
    if args.incidents < 1 or args.batch < 1 or args.timeout <= 0:
        parser.error("need --incidents >= 1, --batch >= 1, --timeout > 0")
    if args.max_cached is not None and not 100 <= args.max_cached <= 100_000:
        parser.error("--max-cached: XORB_MAX_CACHED_WORKFLOWS takes 100 to 100000")
    return args


def main(argv: list[str] | None = None) -> int:
    if not Path("/proc/self/status").exists():
        print("memory bench: needs Linux /proc", file=sys.stderr)
        return 2
    args = parse_args(argv)
    started_at = datetime.now(UTC)
    name = started_at.strftime("%Y%m%dT%H%M%SZ")
    work = Path(tempfile.mkdtemp(prefix="xorb-bench-memory-"))
    started = Started()
    result: dict[str, Any] = {"benchmark": "memory", "started_at": started_at.isoformat(timespec="seconds")}
    return run_bench("memory", work, started, args.keep_work, lambda: _run(args, name, work, started, result))


if __name__ == "__main__":
    sys.exit(main())
