"""Playbook benchmark: what answering an incident with a playbook costs, against the built-in plan.

    .venv/bin/python bench/playbooks.py [--incidents 200]

One run starts `xorb dev` (temp data dir, every port 0, correlation window 0 so incidents close when their
response ends, default MAX_PARALLEL_WORKFLOWS) with a webhook sink and a playbooks directory of two playbooks,
then sends three batches of incidents, each incident its own correlation key, as NDJSON:

  built_in       technique T1059: no playbook matches, the built-in plan runs one notify.webhook step
  playbook       technique T1071.001: a playbook of one notify.webhook step, run as the incident's child workflow
  playbook_rich  technique T1486: parallel (2 notifies), if, for_each over 3 items (data.set), notify: 9 steps

For each it measures the wall-clock time from the first alert sent until every incident finished, and each
incident's own time from creation to its final update; it prints both as ratios to `built_in`, measured in the
same run. The result goes to bench/results/playbooks-<UTC timestamp>.json.
"""

from __future__ import annotations

import argparse
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
from ingest import RESULTS_DIR, BenchError, Started, _clean_env, incidents_of, machine_info, start_xorb_dev

from xorb_orchestrator.devtools.webhook_sink import WebhookSink

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


def run_phase(http: httpx.Client, source: str, technique: str, count: int, timeout: float) -> dict[str, Any]:
    body = alerts(source, technique, count)
    started = time.monotonic()
    for chunk in range(0, count, 100):
        part = b"\n".join(body.splitlines()[chunk : chunk + 100]) + b"\n"
        response = http.post("/v1/alerts/generic", content=part, headers={"Content-Type": "application/x-ndjson"})
        if response.status_code != 202:
            raise BenchError(f"{source}: POST answered {response.status_code}: {response.text[:200]}")
    while True:
        items = incidents_of(http, source)
        done = [i for i in items if i["status"] in ("completed", "closed", "failed")]
        if len(items) == count and len(done) == count:
            break
        if time.monotonic() - started > timeout:
            raise BenchError(f"{source}: {len(done)} of {count} incidents finished within {timeout:.0f} s")
        time.sleep(0.25)
    seconds = time.monotonic() - started
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=200, help="incidents per phase (default 200)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a phase may take")
    args = parser.parse_args(argv)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = Path(tempfile.mkdtemp(prefix="xorb-bench-playbooks-"))
    started = Started()
    sink = WebhookSink().start()
    result: dict[str, Any] = {"benchmark": "playbooks", "started_at": stamp, "machine": machine_info()}
    try:
        playbooks = work / "playbooks"
        playbooks.mkdir()
        (playbooks / "one-step.yaml").write_text(ONE_STEP)
        (playbooks / "rich.yaml").write_text(RICH)
        (work / "policy.yaml").write_text(POLICY)
        listed = max(args.incidents, 20)
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
            "XORB_NOTIFY_WEBHOOK_URLS": sink.url,
            "XORB_CORRELATION_WINDOW_SECONDS": "0",
        }
        api_url, api_key = start_xorb_dev(started, work / "data", env)
        http = httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30.0)
        synced = http.post("/v1/ti/feeds/bench-c2/sync", params={"wait": 120}, timeout=150)
        if synced.status_code != 200:
            raise BenchError(f"the bench feed did not sync: {synced.status_code} {synced.text[:200]}")
        run_phase(http, f"bench-warmup-{stamp}", PHASES["playbook_rich"], 20, args.timeout)
        phases: dict[str, dict[str, Any]] = {}
        for name, technique in PHASES.items():
            phases[name] = run_phase(http, f"bench-{name}-{stamp}", technique, args.incidents, args.timeout)
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
        result["parameters"] = {"incidents": args.incidents, "max_parallel_workflows": "default (10)"}
        result["phases"] = phases
        RESULTS_DIR.mkdir(exist_ok=True)
        out = RESULTS_DIR / f"playbooks-{stamp}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")
        return 0
    except BenchError as exc:
        print(f"playbooks bench: FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        started.stop()
        sink.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
