"""`xorb dev`: ready quickly, stops cleanly on SIGTERM, and resumes a blocked incident after a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.blocking_sink import BlockingSink
from tests.support.processes import (
    XorbProcess,
    alive,
    child_pids,
    clean_env,
    command_name,
    read_json,
    start_xorb,
    wait_for_file,
    xorb_processes,
)
from xorb_orchestrator.devtools.webhook_sink import WebhookSink

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

ALERT: dict[str, object] = {
    "title": "Ransomware note written to a file share",
    "severity": "critical",
    "source": "edr-1",
    "rule": "ransom-note",
    "observables": {"hostname": "fs01.corp.example"},
}
ENDPOINT_KEYS = {"api_url", "temporal_address", "ui_url", "metrics_url", "redis_url"}


async def start_dev(
    data_dir: Path, sink: BlockingSink | WebhookSink, log: Path, **extra: str
) -> tuple[XorbProcess, dict, float]:
    """Start `xorb dev` (with `extra` settings); return it, its endpoints and the seconds it took to be ready."""
    env = clean_env(XORB_NOTIFY_WEBHOOK_URLS=sink.url, XORB_INCIDENT_LINGER_SECONDS=0, **extra)
    args = ["dev", "--data-dir", str(data_dir), "--api-port", "0", "--temporal-port", "0"]
    args += ["--ui-port", "0", "--redis-port", "0"]
    started = time.monotonic()
    dev = start_xorb(args, env, log, new_group=True)
    endpoints_file = data_dir / "endpoints.json"
    await wait_for_file(endpoints_file, dev, timeout=60)
    ready = time.monotonic() - started
    # endpoints.json is written just before the banner; wait for the banner too.
    while "Stop with Ctrl-C." not in dev.output():
        assert time.monotonic() - started < 70, dev.output()[-3000:]
        await asyncio.sleep(0.05)
    return dev, read_json(endpoints_file), ready


async def wait_completed(http: httpx.AsyncClient, incident_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        response = await http.get(f"/v1/incidents/{incident_id}")
        if response.status_code == 200:
            last = response.json()
            if last["status"] in ("completed", "closed"):
                return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"incident {incident_id} did not complete; last seen: {last}")


async def post_alert(api_url: str, key: str, alert: dict[str, object]) -> str:
    return str((await send(api_url, key, alert))["incident_id"])


async def send(api_url: str, key: str, alert: dict[str, object]) -> dict:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=10) as http:
        response = await http.post("/v1/alerts", json=alert)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def wait_exit(dev: XorbProcess, data_dir: Path, children: list[int], what: str) -> None:
    """`xorb dev` exits 0 within 15 s, its Temporal and Redis are gone, and so is endpoints.json."""
    stopping = time.monotonic()
    try:
        code = await asyncio.to_thread(dev.proc.wait, 20)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"xorb dev did not stop after {what}:\n{dev.output()[-3000:]}") from None
    took = time.monotonic() - stopping
    print(f"xorb dev stopped in {took:.2f}s after {what}")
    assert code == 0, dev.output()[-3000:]
    assert took < 15
    assert not [pid for pid in children if alive(pid)], "temporal/redis still running"
    assert not (data_dir / "endpoints.json").exists(), "endpoints.json names dead addresses"


async def test_dev_stops_cleanly_and_resumes_incident_after_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "xorb-dev"
    sink = BlockingSink().start()
    children: list[int] = []
    try:
        with xorb_processes() as running:
            dev, endpoints, ready = await start_dev(data_dir, sink, tmp_path / "dev-1.log")
            running.append(dev)
            print(f"\nxorb dev ready in {ready:.2f}s (cold start, fresh data dir)")
            assert set(endpoints) >= ENDPOINT_KEYS, endpoints
            key = (data_dir / "api_key").read_text().strip()
            assert key and f"API key      {key}" in dev.output()
            children = child_pids(dev.pid)
            assert sorted(command_name(pid) for pid in children) == ["redis-server", "temporal"]

            incident_id = await post_alert(endpoints["api_url"], key, ALERT)
            step_key = f"{incident_id}/notify-1"
            (arrival,) = await sink.wait_for_arrivals(1)
            assert arrival.key == step_key

            # SIGTERM while the step is parked: a clean exit, nothing left behind.
            dev.signal(signal.SIGTERM)
            await wait_exit(dev, data_dir, children, "SIGTERM")

            dev, endpoints, ready = await start_dev(data_dir, sink, tmp_path / "dev-2.log")
            running.append(dev)
            children = child_pids(dev.pid)
            print(f"xorb dev ready in {ready:.2f}s (restart on the same data dir)")
            assert (data_dir / "api_key").read_text().strip() == key
            assert f"API key      {key}" in dev.output()
            # The interrupted step runs again on the restarted worker; let it through.
            await sink.wait_for_arrivals(2, timeout=30)
            assert sink.count(step_key) == 2
            sink.release(step_key)
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=endpoints["api_url"], headers=headers, timeout=10) as http:
                incident = await wait_completed(http, incident_id, timeout=30)
            assert incident["alert_count"] == 1
            step = incident["steps"][0]
            assert step["status"] == "completed" and step["attempts"] >= 2, step
            # The alert sent before the restart, sent again: Redis kept its fingerprint (append-only file).
            again = await send(endpoints["api_url"], key, ALERT)
            assert again == {"incident_id": incident_id, "duplicate": True}

            # Ctrl-C in a terminal (SIGINT to the foreground group) while another step is parked:
            # the worker stops before Temporal, so it can still record the interrupted step.
            other = await post_alert(endpoints["api_url"], key, {**ALERT, "rule": "ransom-note-2"})
            await sink.wait_for_keys(2)
            assert sink.keys()[1] == f"{other}/notify-1"
            dev.interrupt_group()
            await wait_exit(dev, data_dir, children, "Ctrl-C")
            assert "Network error while completing activity" not in dev.output()
    finally:
        sink.stop()
        for pid in children:  # only if `xorb dev` itself failed to stop its own children
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
