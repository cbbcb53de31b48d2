"""Lines set aside: a poison line (the API answers 500 for it) and invalid lines go to the dead-letter file,
and the lines around them are delivered; an outage (503/429, or a gateway's 502 for everything) sets nothing aside.

The real follower and shipper against the local receiver, as in test_file_follower; `xorb alerts send` as the
real command.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.shipper.test_file_follower import append, flow_ids, following, ids, saved_offset, wait_until
from tests.support.ndjson_receiver import Receiver, eve_alert, eve_line
from tests.support.processes import clean_env
from xorb_orchestrator.shipper import dead_letter
from xorb_orchestrator.shipper.dead_letter import LINE_KEEP_BYTES, DeadLetter, append_dead_letters, replay_lines
from xorb_orchestrator.shipper.position import dead_letter_path, default_state_path
from xorb_orchestrator.shipper.sender import AlertShipper, RetryPolicy

pytestmark = pytest.mark.timeout(30)
QUICK = RetryPolicy(initial=0.02, maximum=0.2)
POISON = b"POISON-7f3a"
XORB = [sys.executable, "-c", "from xorb_orchestrator.cli.main import main; main()"]


@pytest.fixture
def receiver() -> Any:
    with Receiver() as running:
        yield running


@pytest.fixture
def eve(tmp_path: Path) -> Path:
    path = tmp_path / "eve.json"
    path.touch()
    return path


def poison_line(n: int) -> bytes:
    """A valid alert that the receiver answers 500 for, as the API did for JSON nested too deep."""
    alert = eve_alert(n)
    alert["payload_printable"] = POISON.decode()
    return json.dumps(alert).encode() + b"\n"


def dead_letters(followed: Path) -> list[dict[str, Any]]:
    where = dead_letter_path(default_state_path(followed))
    return [json.loads(line) for line in where.read_text().splitlines()] if where.exists() else []


def xorb(args: list[str], receiver: Receiver) -> subprocess.CompletedProcess[str]:
    env = clean_env(XORB_API_URL=receiver.url, XORB_API_KEY=receiver.api_key)
    done = subprocess.run([*XORB, *args], env=env, capture_output=True, text=True, timeout=20)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done


# --- following -------------------------------------------------------------------------------------


def test_a_poison_line_is_dead_lettered_once_and_every_other_line_delivered_once(
    eve: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.poison = POISON
    before = b"".join(eve_line(n) for n in range(10))
    after = b"".join(eve_line(n) for n in range(11, 20))
    with caplog.at_level(logging.WARNING), following(eve, receiver, retry=QUICK) as follower:
        append(eve, before + poison_line(10) + after)
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size, what="the offset past every line")
    assert flow_ids(receiver.accepted) == ids(range(10), range(11, 20))
    assert receiver.duplicates == 0
    assert (follower.stats.accepted, follower.stats.failed, follower.stats.dead_lettered) == (19, 1, 1)
    assert "1 dead-lettered" in str(follower.stats)

    (record,) = dead_letters(eve)
    assert record["status"] == 500 and record["error"] == "internal error; see the service log"
    assert (record["file"], record["offset"]) == (str(eve), len(before))
    assert record["line"] == poison_line(10).decode().rstrip("\n") and "truncated" not in record
    assert datetime.fromisoformat(record["time"]).utcoffset() == timedelta(0)
    warnings = [r.getMessage() for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert len(warnings) == 1 and f"{eve} offset {len(before)}" in warnings[0] and "500" in warnings[0]
    assert POISON.decode() not in caplog.text, "a line's content was logged"

    # Started again: nothing before the offset is sent again, nothing is dead-lettered twice.
    sent = len(receiver.requests)
    append(eve, eve_line(20) + eve_line(21))
    with following(eve, receiver, retry=QUICK) as again:
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size, what="the offset after the restart")
    assert flow_ids([line for request in receiver.requests[sent:] for line in request.lines]) == ids(20, 21)
    assert len(dead_letters(eve)) == 1 and again.stats.dead_lettered == 0


def test_rejected_lines_are_dead_lettered_with_their_reason(eve: Path, receiver: Receiver) -> None:
    receiver.max_bytes = 4000
    no_severity = eve_alert(2)
    del no_severity["alert"]["severity"]
    big = eve_alert(3)
    big["payload_printable"] = "x" * 5000  # larger than a request may be: 413 once it stands alone
    lines = [
        eve_line(0),
        b'{"event_type": "alert", "timest\n',
        json.dumps(no_severity).encode() + b"\n",
        json.dumps(big).encode() + b"\n",
        eve_line(4),
    ]
    starts = [sum(len(line) for line in lines[:i]) for i in range(len(lines))]
    with following(eve, receiver, retry=QUICK) as follower:
        append(eve, b"".join(lines))
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size, what="the offset past every line")
    assert flow_ids(receiver.accepted) == ids(0, 4)
    records = dead_letters(eve)
    assert [(r["offset"], r["status"]) for r in records] == [
        (starts[1], "rejected"),
        (starts[2], "rejected"),
        (starts[3], 413),
    ]
    assert records[0]["error"].startswith("$: not valid JSON")
    assert records[1]["error"].startswith("$.alert.severity: ")
    assert "413" in records[2]["error"]
    assert [r["line"] for r in records] == [line.decode().rstrip("\n") for line in lines[1:4]]
    assert (follower.stats.rejected, follower.stats.dead_lettered) == (3, 3)


def test_a_503_or_429_outage_sets_nothing_aside_and_the_batch_goes_whole(eve: Path, receiver: Receiver) -> None:
    receiver.fail_next(4, status=503, retry_after="0")
    receiver.fail_next(3, status=429, retry_after="0")
    append(eve, b"".join(eve_line(n) for n in range(6)))
    with following(eve, receiver, retry=QUICK) as follower:
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size, what="the offset after the outage")
    assert [r.status for r in receiver.requests] == [503] * 4 + [429] * 3 + [202]
    assert all(r.lines == receiver.requests[0].lines for r in receiver.requests), "the batch was split"
    assert flow_ids(receiver.accepted) == ids(range(6))
    assert dead_letters(eve) == [] and follower.stats.dead_lettered == 0


def test_a_gateway_answering_502_to_everything_sets_nothing_aside(eve: Path, receiver: Receiver) -> None:
    receiver.outage = 502  # the empty request that checks whether the API is up fails too
    append(eve, b"".join(eve_line(n) for n in range(4)))
    with following(eve, receiver, retry=QUICK) as follower:
        # Split down to one line, which is tried again and again: the API is down, the line not at fault.
        wait_until(lambda: sum(1 for r in receiver.requests if len(r.lines) == 1) >= 6, what="lone-line retries")
        assert dead_letters(eve) == [] and saved_offset(eve) == 0
        receiver.outage = None
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size, what="the offset after the outage")
    assert flow_ids(receiver.accepted) == ids(range(4))
    assert dead_letters(eve) == [] and follower.stats.failed == 0


# --- the shipper and the records alone -------------------------------------------------------------


def test_the_shipper_tries_the_batch_then_finds_the_poison_line_and_answers_it_failed(receiver: Receiver) -> None:
    receiver.poison = POISON
    lines = [eve_line(n).rstrip() for n in range(7)]
    lines[3] = poison_line(3).rstrip()
    with AlertShipper(receiver.url, receiver.api_key, "suricata", retry=QUICK) as shipper:
        result = shipper.ship(lines)
    assert [r.status for r in result.results] == ["accepted"] * 3 + ["failed"] + ["accepted"] * 3
    assert (result.results[3].http_status, result.results[3].error) == (500, "internal error; see the service log")
    whole = [r for r in receiver.requests if len(r.lines) == 7]
    alone = [r for r in receiver.requests if r.lines == [lines[3]]]
    assert len(whole) == len(alone) == QUICK.split_after, "the batch, then the line alone, get their tries"
    assert flow_ids(receiver.accepted) == ids(0, 1, 2, 4, 5, 6)


def test_records_cut_long_lines_and_stop_keeping_lines_past_the_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "eve.json.xorb-offset.dead"
    long = b'{"x": "' + b"x" * LINE_KEEP_BYTES + b'"}'
    append_dead_letters(
        path, [DeadLetter("/f", 0, "rejected", "e", long), DeadLetter("/f", "line 2", 500, "e", b'\xff{"a": 1}')]
    )
    monkeypatch.setattr(dead_letter, "BODY_LIMIT_BYTES", path.stat().st_size)
    append_dead_letters(path, [DeadLetter("/f", 7, 500, "e", b"{}")])
    first, second, third = (json.loads(line) for line in path.read_text().splitlines())
    assert first["truncated"] is True and len(first["line"]) == LINE_KEEP_BYTES
    assert second["where"] == "line 2" and "offset" not in second and second["line"] == '\ufffd{"a": 1}'
    assert (third["offset"], third["line"], third["truncated"]) == (7, None, True)
    replayed, partial = replay_lines(path.read_bytes())
    assert [item.data for item in replayed] == ['\ufffd{"a": 1}'.encode()] and partial == 2


# --- xorb alerts send ------------------------------------------------------------------------------


def test_send_reports_a_failed_line_sends_the_rest_and_exits_1(tmp_path: Path, receiver: Receiver) -> None:
    receiver.poison = POISON
    alerts = tmp_path / "eve.json"
    alerts.write_bytes(eve_line(0) + eve_line(1) + poison_line(2) + eve_line(3))
    done = xorb(["alerts", "send", "-s", "suricata", str(alerts)], receiver)
    assert done.returncode == 1, done
    lines = done.stdout.splitlines()
    assert lines[0] == "accepted 3 (0 duplicates), rejected 0, ignored 0, failed 1"
    assert lines[-1] == "  failed index 2, line 3: the API answered 500: internal error; see the service log"
    assert all(re.fullmatch(r"  incident \S+: \d+ alerts?", line) for line in lines[1:-1]) and len(lines) > 2
    assert flow_ids(receiver.accepted) == ids(0, 1, 3)


def test_a_dead_letter_file_is_sent_again_with_from_dead_letter(eve: Path, receiver: Receiver) -> None:
    receiver.poison = POISON
    with following(eve, receiver, retry=QUICK):
        append(eve, eve_line(0) + poison_line(1))
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size, what="the offset past every line")
    receiver.poison = None  # the API fixed
    dead = dead_letter_path(default_state_path(eve))
    done = xorb(["alerts", "send", "-s", "suricata", "--from-dead-letter", str(dead)], receiver)
    assert done.returncode == 0, done
    assert done.stdout.splitlines()[0] == "accepted 1 (0 duplicates), rejected 0, ignored 0", done
    assert re.fullmatch(r"  incident \S+: 1 alert", done.stdout.splitlines()[1]), done
    assert flow_ids(receiver.accepted) == ids(0, 1)
    done = xorb(["alerts", "send", "-s", "suricata", "--from-dead-letter", str(eve)], receiver)
    assert done.returncode == 2 and "line 1 is not a dead-letter record" in done.stderr, done
