"""`xorb alerts send` and `xorb alerts follow`, run as the real command against the real service
(Temporal, Redis, the API's POST /v1/alerts/{source}).

The acceptance point: `follow` killed with SIGKILL and started again while a writer keeps appending
Suricata EVE alerts — every alert arrives exactly once (the incidents' alert counts sum to the lines
written), whatever was sent twice is reported as a duplicate.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.ndjson_receiver import Receiver, eve_alert, eve_flow_line, eve_line
from tests.support.paths import DATA as DATA_DIR
from tests.support.processes import XorbProcess, clean_env, start_xorb, xorb_processes
from tests.support.stack import API_KEY, RunningService, make_settings, service
from xorb_orchestrator.infrastructure.ports import free_port
from xorb_orchestrator.shipper.position import (
    Position,
    default_state_path,
    head_digest,
    load_position,
    save_position,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(30)]
DATA = DATA_DIR / "sources" / "suricata"
XORB = [sys.executable, "-c", "from xorb_orchestrator.cli.main import main; main()"]


def run_xorb(args: list[str], env: dict[str, str], stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*XORB, *args], env=env, input=stdin.decode() if stdin else None, capture_output=True, text=True, timeout=20
    )
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


def unique_sids(n: int) -> list[int]:
    """Rule ids no other test uses: incidents of the whole session share one Temporal."""
    first = random.randrange(9_000_000, 9_900_000, 100)
    return [first + i for i in range(n)]


async def incidents_of(svc: RunningService, sids: list[int]) -> list[dict[str, Any]]:
    """Our incidents (by rule id), each read fresh by id."""
    response = await svc.http.get("/v1/incidents", params={"page_size": 500})
    assert response.status_code == 200, response.text
    wanted = {str(s) for s in sids}
    ids = [item["incident_id"] for item in response.json()["items"] if item.get("rule") in wanted]
    views = []
    for incident_id in ids:
        one = await svc.http.get(f"/v1/incidents/{incident_id}")
        if one.status_code == 200:
            views.append(one.json())
    return views


async def wait_for_alert_count(
    svc: RunningService, sids: list[int], expected: int, *, timeout: float, follower: XorbProcess | None = None
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    views: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        views = await incidents_of(svc, sids)
        if sum(v["alert_count"] for v in views) >= expected:
            return views
        if follower is not None and follower.proc.poll() is not None:
            raise AssertionError(f"follow exited with {follower.proc.returncode}:\n{follower.output()[-3000:]}")
        await asyncio.sleep(0.25)
    counts = {v["incident_id"]: v["alert_count"] for v in views}
    tail = follower.output()[-3000:] if follower else ""
    raise AssertionError(f"alert counts {counts} never summed to {expected}\n{tail}")


# --- send ------------------------------------------------------------------------------------------


async def test_send_reports_each_alert_and_exits_1_on_a_rejection(
    temporal_address: str, redis_server, tmp_path: Path
) -> None:
    (sid,) = unique_sids(1)
    no_severity = eve_alert(3, sid=sid)
    del no_severity["alert"]["severity"]
    lines = [
        eve_line(0, sid=sid),
        eve_line(1, sid=sid),
        (DATA / "dns.json").read_bytes().strip() + b"\n",  # protocol log: ignored
        b'{"event_type": "alert", "timestamp": \n',  # malformed
        b"\n",
        json.dumps(no_severity).encode() + b"\n",  # an alert without its severity
        eve_flow_line(1),  # ignored
        eve_line(2, sid=sid),
    ]
    alerts = tmp_path / "eve.json"
    alerts.write_bytes(b"".join(lines))
    settings = make_settings(temporal_address, redis_server.url, XORB_INCIDENT_LINGER_SECONDS=600)
    async with service(settings) as svc:
        env = clean_env(XORB_API_URL=svc.base_url, XORB_API_KEY=API_KEY)
        done = await asyncio.to_thread(run_xorb, ["alerts", "send", "--source", "suricata", str(alerts)], env)
        assert done.returncode == 1, done
        out = done.stdout.splitlines()
        assert out[0] == "accepted 3 (0 duplicates), rejected 2, ignored 2", done.stdout
        assert re.fullmatch(r"  incident incident-\S+: 3 alerts", out[1]), out  # where they went: one incident
        assert re.fullmatch(r"  rejected index 3, line 4: \$: .*not valid JSON.*", out[2]), out
        assert re.fullmatch(r"  rejected index 4, line 6: \$\.alert\.severity: .+", out[3]), out
        assert len(out) == 4 and done.stderr == ""
        # The same file again: safe, every alert is known and counted once.
        done = await asyncio.to_thread(run_xorb, ["alerts", "send", "--source", "suricata", str(alerts)], env)
        assert done.stdout.splitlines()[0] == "accepted 3 (3 duplicates), rejected 2, ignored 2", done.stdout
        views = await wait_for_alert_count(svc, [sid], 3, timeout=15)
        assert [v["alert_count"] for v in views] == [3]

        # One pretty-printed alert from stdin, with the options instead of the environment: exit 0.
        example = (DATA / "example.json").read_bytes()
        args = ["alerts", "send", "-s", "suricata", "-", "--api-url", svc.base_url, "--api-key", API_KEY]
        done = await asyncio.to_thread(run_xorb, args, clean_env(), example)
        assert done.returncode == 0, done
        summary, where = done.stdout.splitlines()
        assert summary == "accepted 1 (0 duplicates), rejected 0, ignored 0"
        assert re.fullmatch(r"  incident incident-\S+: 1 alert", where), done.stdout

        # A wrong key: one line saying what to check, nothing sent.
        args = ["alerts", "send", "-s", "suricata", str(alerts), "--api-key", "wrong"]
        done = await asyncio.to_thread(run_xorb, args, env)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr == "xorb: error: 401: check --api-key / XORB_API_KEY\n"


async def test_user_errors_are_one_line(tmp_path: Path) -> None:
    alerts = tmp_path / "eve.json"
    alerts.write_bytes(eve_line(1))
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = clean_env(XORB_API_URL=nowhere, XORB_API_KEY="k")
    cases = {
        "cannot reach the API at http": ["alerts", "send", "-s", "suricata", str(alerts)],
        "no-such.json: no such file": ["alerts", "send", "-s", "suricata", str(tmp_path / "no-such.json")],
        "--source: expected one of generic, suricata": ["alerts", "send", "-s", "snort", str(alerts)],
        "no such directory": ["alerts", "follow", "-s", "suricata", str(tmp_path / "nodir" / "eve.json")],
    }
    for expected, args in cases.items():
        done = await asyncio.to_thread(run_xorb, args, env)
        lines = done.stderr.splitlines()
        assert done.returncode != 0 and len(lines) == 1, (args, done)
        assert lines[0].startswith("xorb: error: ") and expected in lines[0], (args, lines)
    done = await asyncio.to_thread(run_xorb, ["alerts", "send", "-s", "suricata", str(alerts)], clean_env())
    assert done.stderr.startswith("xorb: error: no API key: pass --api-key or set XORB_API_KEY"), done


# --- follow ----------------------------------------------------------------------------------------


async def test_follow_stops_cleanly_on_a_signal_and_fails_in_one_line_on_a_bad_key(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"
    eve.write_bytes(eve_line(1))
    with Receiver() as receiver, xorb_processes() as started:
        # The API unreachable: the line waits (nothing committed), and Ctrl-C still stops at once.
        args = ["alerts", "follow", "-s", "suricata", str(eve), "--api-key", receiver.api_key]
        nowhere = start_xorb([*args, "--api-url", Receiver().url], clean_env(), tmp_path / "down.log")
        started.append(nowhere)
        await wait_until_logged(nowhere, "retrying in")
        nowhere.signal(signal.SIGINT)
        assert await asyncio.to_thread(nowhere.proc.wait, 10) == 0, nowhere.output()
        assert (load_position(default_state_path(eve)) or Position(0, 0, -1, "")).offset == 0
        # Up: the line is sent, and SIGTERM stops after committing it.
        up = start_xorb([*args, "--api-url", receiver.url], clean_env(), tmp_path / "up.log")
        started.append(up)
        await wait_for_offset(default_state_path(eve), eve.stat().st_size, up)
        up.signal(signal.SIGTERM)
        assert await asyncio.to_thread(up.proc.wait, 10) == 0, up.output()
        assert len(receiver.accepted) == 1
        # A wrong key is found at start, before any alert: one line, exit 1.
        done = await asyncio.to_thread(
            run_xorb,
            ["alerts", "follow", "-s", "suricata", str(eve), "--api-url", receiver.url],
            clean_env(XORB_API_KEY="bad"),
        )
        assert (done.returncode, done.stderr.splitlines()[-1]) == (
            1,
            "xorb: error: 401: check --api-key / XORB_API_KEY",
        )


async def wait_until_logged(proc: XorbProcess, text: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while text not in proc.output():
        assert proc.proc.poll() is None and time.monotonic() < deadline, proc.output()[-3000:]
        await asyncio.sleep(0.05)


class EveWriter(threading.Thread):
    """Appends `total` distinct alerts over `seconds`, as Suricata does; some lines in two writes."""

    def __init__(self, path: Path, sids: list[int], total: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.path, self.sids, self.total, self.seconds = path, sids, total, seconds
        self.written = 0

    def run(self) -> None:
        per_tick = 10
        pause = self.seconds / (self.total / per_tick)
        with open(self.path, "ab", buffering=0) as eve:
            for n in range(self.total):
                line = eve_line(n, sid=self.sids[n % len(self.sids)], src_ip=f"10.1.4.{n % len(self.sids) + 1}")
                if n % 7 == 3:  # a line caught mid-write by a read of the follower
                    eve.write(line[:50])
                    time.sleep(0.01)
                    eve.write(line[50:])
                else:
                    eve.write(line)
                self.written += 1
                if n % per_tick == per_tick - 1:
                    time.sleep(pause)


def line_starts(path: Path) -> list[int]:
    starts, offset = [], 0
    for line in path.read_bytes().splitlines(keepends=True):
        starts.append(offset)
        offset += len(line)
    return starts


async def wait_for_offset(state: Path, minimum: int, proc: XorbProcess, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        position = load_position(state)
        if position is not None and position.offset >= minimum:
            return position.offset
        assert proc.proc.poll() is None, f"follow exited:\n{proc.output()[-3000:]}"
        await asyncio.sleep(0.05)
    raise AssertionError(f"the offset never reached {minimum}:\n{proc.output()[-3000:]}")


def reported_duplicates(*procs: XorbProcess) -> int:
    # The per-batch lines ("sent 37 lines up to ... offset 1234: 37 accepted (3 duplicates), ..."), not the totals.
    found = re.findall(
        r"sent \d+ lines up to .*: \d+ accepted \((\d+) duplicates\)", "".join(p.output() for p in procs)
    )
    return sum(int(n) for n in found)


async def test_follow_killed_and_restarted_while_the_file_grows_delivers_every_alert_once(
    temporal_address: str, redis_server, tmp_path: Path
) -> None:
    sids = unique_sids(3)
    total = 700
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    eve = log_dir / "eve.json"
    eve.touch()
    state = default_state_path(eve)
    settings = make_settings(temporal_address, redis_server.url, XORB_INCIDENT_LINGER_SECONDS=600)
    async with service(settings) as svc:
        env = clean_env(HOME=tmp_path, XORB_API_URL=svc.base_url, XORB_API_KEY=API_KEY, LOG_LEVEL="DEBUG")
        args = ["alerts", "follow", "--source", "suricata", str(eve)]
        with xorb_processes() as started:

            def start(n: int) -> XorbProcess:
                proc = start_xorb(args, env, tmp_path / f"follow-{n}.log")
                started.append(proc)
                return proc

            writer = EveWriter(eve, sids, total, seconds=7.0)
            first = start(1)
            writer.start()
            await wait_for_offset(state, 1, first)
            await asyncio.sleep(0.8)
            first.signal(signal.SIGKILL)  # mid-stream: a batch may be in flight, answered or not
            first.proc.wait(5)

            second = start(2)
            committed = await wait_for_offset(state, (load_position(state) or Position(0, 0, 0, "")).offset + 1, second)
            await asyncio.sleep(0.8)
            second.signal(signal.SIGKILL)
            second.proc.wait(5)
            # As if killed after the API answered but before the commit: roll the offset back 40 lines.
            # Those 40 are sent again, and must count once.
            saved = load_position(state)
            assert saved is not None and saved.offset >= committed
            before = [s for s in line_starts(eve) if s < saved.offset]
            rewound = before[max(0, len(before) - 40)]
            resent = len(before) - before.index(rewound)
            head = eve.read_bytes()[: min(rewound, 1024)]
            save_position(state, Position(saved.device, saved.inode, rewound, head_digest(head)))

            third = start(3)
            await asyncio.to_thread(writer.join, 15)  # not writer.join(): the API runs in this event loop
            assert writer.written == total
            views = await wait_for_alert_count(svc, sids, total, timeout=15, follower=third)
            await asyncio.sleep(0.5)  # anything counted twice would show up by now
            views = await incidents_of(svc, sids)

            third.signal(signal.SIGTERM)  # a clean stop commits and exits 0
            assert third.proc.wait(10) == 0, third.output()[-3000:]
            position = load_position(state)
            assert position is not None and position.offset == eve.stat().st_size

    assert sum(v["alert_count"] for v in views) == total, {v["incident_id"]: v["alert_count"] for v in views}
    assert len(views) == len(sids)  # one incident per rule and source address: the storm collapsed
    duplicates_seen = reported_duplicates(first, second, third)
    duplicates_counted = sum(v["duplicate_count"] for v in views)
    print(
        f"\n{total} alerts written; follow killed twice; {resent} lines re-sent on purpose; duplicates reported "
        f"by follow: {duplicates_seen}, counted by the incidents: {duplicates_counted}"
    )
    assert duplicates_seen >= resent, "lines sent again must come back as duplicates"
    assert "Traceback" not in first.output() + second.output() + third.output()
