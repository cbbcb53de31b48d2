"""The file follower and the alert shipper against a local receiver that follows the API's contract.

The follower runs in a thread, as in `xorb alerts follow`; the file is written by the test the way
Suricata and logrotate write it. Every test asserts what arrived, how often, and what the state file
says: nothing skipped, nothing sent again after a clean commit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.ndjson_receiver import Receiver, eve_alert, eve_flow_line, eve_line
from xorb_orchestrator.shipper import file_follower
from xorb_orchestrator.shipper.file_follower import FileFollower
from xorb_orchestrator.shipper.lines import batches, split_alerts
from xorb_orchestrator.shipper.position import (
    Position,
    default_state_path,
    head_digest,
    load_position,
    save_position,
)
from xorb_orchestrator.shipper.sender import AlertShipper, RetryPolicy, ShipperError

pytestmark = pytest.mark.timeout(30)
FAST = RetryPolicy(initial=0.05, maximum=2.0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def eve(tmp_path: Path) -> Path:
    path = tmp_path / "eve.json"
    path.touch()
    return path


@contextlib.contextmanager
def following(path: Path, receiver: Receiver, *, retry: RetryPolicy = FAST, **options: float) -> Iterator[FileFollower]:
    """A follower of `path` in a thread, stopped (and joined) on the way out."""
    stop = threading.Event()
    shipper = AlertShipper(receiver.url, receiver.api_key, "suricata", stop=stop, retry=retry)
    defaults = {"max_delay": 0.05, "poll_interval": 0.02, "rotate_grace": 0.2}
    follower = FileFollower(path, default_state_path(path), shipper, stop=stop, **{**defaults, **options})  # type: ignore[arg-type]
    thread = threading.Thread(target=follower.run, daemon=True)
    thread.start()
    try:
        yield follower
    finally:
        stop.set()
        thread.join(10)
        shipper.close()
        assert not thread.is_alive(), "the follower did not stop"


def wait_until(check: Callable[[], bool], timeout: float = 10, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        time.sleep(0.02)


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def flow_ids(lines: list[bytes]) -> list[int]:
    return [json.loads(line)["flow_id"] for line in lines]


def ids(*numbers: range | int) -> list[int]:
    out: list[int] = []
    for n in numbers:
        out.extend(n if isinstance(n, range) else [n])
    return [eve_alert(n)["flow_id"] for n in out]


def saved_offset(path: Path) -> int | None:
    position = load_position(default_state_path(path))
    return None if position is None else position.offset


# --- following -------------------------------------------------------------------------------------


def test_lines_are_sent_once_and_a_partial_last_line_waits_for_its_newline(eve: Path, receiver: Receiver) -> None:
    with following(eve, receiver):
        append(eve, eve_line(1) + b"\n" + eve_line(2) + eve_line(3))  # a blank line among them
        wait_until(lambda: len(receiver.accepted) == 3)
        partial = eve_line(4)
        append(eve, partial[:40])  # the writer is mid-line
        time.sleep(0.4)
        assert len(receiver.lines_received) == 3, "a line without its newline was sent"
        assert saved_offset(eve) == eve.stat().st_size - 40
        append(eve, partial[40:])
        wait_until(lambda: len(receiver.accepted) == 4)
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size, what="the offset commit")
    assert flow_ids(receiver.accepted) == ids(range(1, 5))
    assert len(receiver.lines_received) == 4  # each line sent once


def test_rotation_by_rename_finishes_the_old_file_then_reads_the_new_one(eve: Path, receiver: Receiver) -> None:
    with following(eve, receiver) as follower:
        append(eve, b"".join(eve_line(n) for n in range(5)))
        wait_until(lambda: len(receiver.accepted) == 5)
        with open(eve, "ab") as writer:  # the writer keeps its handle across the rename, like Suricata
            eve.rename(eve.with_name("eve.json.1"))
            writer.write(eve_line(5) + eve_line(6))
            writer.write(eve_line(7).rstrip(b"\n"))  # its last line never gets a newline
            writer.flush()
            time.sleep(0.05)
            append(eve, b"".join(eve_line(n) for n in range(8, 12)))  # the new eve.json
        wait_until(lambda: len(receiver.accepted) == 12)
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size, what="the offset commit")
        assert follower.stats.rotations == 1
    assert flow_ids(receiver.accepted) == ids(range(12)), "the old file's tail before the new file, in order"
    assert len(receiver.lines_received) == 12
    position = load_position(default_state_path(eve))
    assert position is not None and position.inode == eve.stat().st_ino


def test_copytruncate_starts_again_from_the_start(eve: Path, receiver: Receiver) -> None:
    with following(eve, receiver) as follower:
        append(eve, b"".join(eve_line(n) for n in range(5)))
        wait_until(lambda: len(receiver.accepted) == 5)
        shutil.copy(eve, eve.with_name("eve.json.1"))
        with open(eve, "r+b") as f:
            f.truncate(0)
        wait_until(lambda: follower.stats.truncations == 1)
        append(eve, eve_line(5) + eve_line(6))  # shorter than before: the size says it was truncated
        wait_until(lambda: len(receiver.accepted) == 7)
        # Truncated and at once rewritten past the old offset: the size looks fine, the first bytes do not.
        with open(eve, "r+b") as f:
            f.truncate(0)
            f.write(b"".join(eve_line(n) for n in range(7, 17)))
        wait_until(lambda: len(receiver.accepted) == 17)
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size, what="the offset commit")
        assert follower.stats.truncations == 2
    assert flow_ids(receiver.accepted) == ids(range(17))
    assert len(receiver.lines_received) == 17


def test_a_restart_resumes_at_the_saved_offset_without_duplicates_or_gaps(eve: Path, receiver: Receiver) -> None:
    with following(eve, receiver):
        append(eve, b"".join(eve_line(n) for n in range(10)))
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size)
    append(eve, b"".join(eve_line(n) for n in range(10, 20)))  # written while no follower runs
    with following(eve, receiver):
        append(eve, b"".join(eve_line(n) for n in range(20, 25)))
        wait_until(lambda: len(receiver.accepted) == 25)
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size)
    assert flow_ids(receiver.accepted) == ids(range(25))
    assert len(receiver.lines_received) == 25, "a line was sent again after its offset was committed"
    assert receiver.duplicates == 0


def test_rotated_while_stopped_the_old_file_is_finished_first(eve: Path, receiver: Receiver) -> None:
    with following(eve, receiver):
        append(eve, b"".join(eve_line(n) for n in range(4)))
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size)
    append(eve, eve_line(4) + eve_line(5))
    eve.rename(eve.with_name("eve.json.1"))
    append(eve, eve_line(6) + eve_line(7))
    with following(eve, receiver):
        wait_until(lambda: len(receiver.accepted) == 8)
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size)
    assert flow_ids(receiver.accepted) == ids(range(8))
    assert len(receiver.lines_received) == 8


def test_a_different_file_under_the_name_is_read_from_the_start(eve: Path, receiver: Receiver) -> None:
    append(eve, eve_line(0) + eve_line(1))
    # A state file about some other file (another inode): the current file is read from its start.
    save_position(default_state_path(eve), Position(eve.stat().st_dev, eve.stat().st_ino + 1, 10**6, "x"))
    with following(eve, receiver):
        wait_until(lambda: len(receiver.accepted) == 2)
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size)
    # The same inode, but shorter than the saved offset (truncated while stopped): from the start too.
    save_position(default_state_path(eve), Position(eve.stat().st_dev, eve.stat().st_ino, 10**6, "x"))
    with following(eve, receiver):
        wait_until(lambda: len(receiver.lines_received) == 4)
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size)
    assert receiver.duplicates == 2 and len(receiver.accepted) == 2  # sent again, counted once


def test_503_with_retry_after_then_success_loses_nothing(eve: Path, receiver: Receiver) -> None:
    receiver.fail_next(2, status=503, retry_after="1")
    with following(eve, receiver):
        append(eve, b"".join(eve_line(n) for n in range(5)))
        wait_until(lambda: len(receiver.requests) >= 1)
        assert saved_offset(eve) == 0, "the offset moved before the API took the lines"
        wait_until(lambda: len(receiver.accepted) == 5)
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size)
    first, second, third = receiver.requests[:3]
    assert (first.status, second.status, third.status) == (503, 503, 202)
    assert second.at - first.at >= 0.95 and third.at - second.at >= 0.95, "Retry-After was not honoured"
    assert first.lines == second.lines == third.lines
    assert flow_ids(receiver.accepted) == ids(range(5))


def test_items_unavailable_are_sent_again_and_only_they(eve: Path, receiver: Receiver) -> None:
    receiver.fail_next(partial=True, retry_after="0")
    receiver.fail_next(status=429, retry_after="0")
    with following(eve, receiver, max_delay=0.3) as follower:
        append(eve, b"".join(eve_line(n) for n in range(6)) + eve_flow_line(1))
        wait_until(lambda: len(receiver.accepted) == 6)
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size)
    first, second, third = receiver.requests[:3]
    assert (first.status, second.status, third.status) == (503, 429, 202)
    assert len(first.lines) == 7
    assert second.lines == third.lines == first.lines[3:6], "only the unavailable alerts go again"
    assert follower.stats.accepted == 6 and follower.stats.ignored == 1 and follower.stats.duplicates == 0
    assert receiver.duplicates == 0


def test_nothing_is_committed_while_the_api_is_unreachable(eve: Path) -> None:
    receiver = Receiver()  # its port, nothing listening yet
    with following(eve, receiver):
        append(eve, b"".join(eve_line(n) for n in range(3)))
        time.sleep(0.6)
        assert saved_offset(eve) == 0
        with receiver:
            wait_until(lambda: len(receiver.accepted) == 3)
            wait_until(lambda: saved_offset(eve) == eve.stat().st_size)
    assert flow_ids(receiver.accepted) == ids(range(3))


def test_rejected_lines_are_logged_with_their_reason_and_passed_over(
    eve: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    no_severity = eve_alert(2)
    del no_severity["alert"]["severity"]
    with caplog.at_level(logging.WARNING), following(eve, receiver) as follower:
        append(eve, eve_line(1) + b'{"event_type": "alert", "timest\n' + json.dumps(no_severity).encode() + b"\n")
        append(eve, eve_flow_line(1) + eve_line(3))
        wait_until(lambda: saved_offset(eve) == eve.stat().st_size)
    assert (follower.stats.accepted, follower.stats.rejected, follower.stats.ignored) == (2, 2, 1)
    rejected = [r.getMessage() for r in caplog.records if "rejected alert" in r.getMessage()]
    assert len(rejected) == 2
    assert "offset" in rejected[0] and "not valid JSON" in rejected[0]
    assert "$.alert.severity" in rejected[1]


def test_batches_respect_the_line_limit(eve: Path, receiver: Receiver) -> None:
    append(eve, b"".join(eve_line(n) for n in range(1200)))
    with following(eve, receiver):
        wait_until(lambda: len(receiver.accepted) == 1200)
    assert [len(r.lines) for r in receiver.requests] == [500, 500, 200]


def test_state_file_is_replaced_atomically(tmp_path: Path) -> None:
    state = tmp_path / "x.xorb-offset"
    save_position(state, Position(1, 2, 3, head_digest(b"abc")))
    save_position(state, Position(1, 2, 30, head_digest(b"abc")))
    assert load_position(state) == Position(1, 2, 30, head_digest(b"abc"))
    assert [p.name for p in tmp_path.iterdir()] == ["x.xorb-offset"], "a temporary file was left behind"
    state.write_text("{not json")
    assert load_position(state) is None


def test_default_state_file_is_next_to_the_file_else_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert default_state_path(tmp_path / "eve.json") == tmp_path / "eve.json.xorb-offset"
    monkeypatch.setattr(file_follower.os, "access", lambda *_: False)  # a directory we may not write (not root)
    where = default_state_path(tmp_path / "eve.json", home=tmp_path / "home")
    assert where.parent == tmp_path / "home" / ".local" / "state" / "xorb"
    assert where.name.startswith("eve.json-") and where.name.endswith(".xorb-offset")
    assert where != default_state_path(tmp_path / "other" / "eve.json", home=tmp_path / "home")


# --- the shipper alone -----------------------------------------------------------------------------


def test_a_line_too_large_for_the_api_is_rejected_alone_and_the_rest_accepted(receiver: Receiver) -> None:
    receiver.max_bytes = 4000
    big = eve_alert(99)
    big["payload_printable"] = "x" * 5000
    lines = [eve_line(n).rstrip() for n in range(3)] + [json.dumps(big).encode()] + [eve_line(4).rstrip()]
    with AlertShipper(receiver.url, receiver.api_key, "suricata", retry=FAST) as shipper:
        result = shipper.ship(lines)
    assert [r.status for r in result.results] == ["accepted"] * 3 + ["rejected", "accepted"]
    assert "413" in (result.results[3].error or "")
    assert flow_ids(receiver.accepted) == ids(0, 1, 2, 4)


def test_a_bad_key_is_one_clear_error(receiver: Receiver) -> None:
    with AlertShipper(receiver.url, "wrong", "suricata", retry=FAST) as shipper:
        with pytest.raises(ShipperError, match=r"^401: check --api-key / XORB_API_KEY$"):
            shipper.ship([eve_line(1)])
        with pytest.raises(ShipperError, match="401"):
            shipper.check()


def test_giving_up_is_an_error_not_a_silent_drop(receiver: Receiver) -> None:
    receiver.fail_next(10, status=503, retry_after="0")
    policy = RetryPolicy(initial=0.05, maximum=0.1, give_up_after=0.5)
    shipper = AlertShipper(receiver.url, receiver.api_key, "suricata", retry=policy)
    with shipper, pytest.raises(ShipperError, match=r"503.*gave up"):
        shipper.ship([eve_line(1)])
    unreachable = AlertShipper(Receiver().url, "k", "suricata", retry=RetryPolicy(retry_unreachable=False))
    with unreachable, pytest.raises(ShipperError, match="cannot reach the API"):
        unreachable.ship([eve_line(1)])


def test_retry_after_as_an_http_date_is_honoured() -> None:
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 2))
            return httpx.Response(503, headers={"Retry-After": when}, json={"error": "unavailable", "message": "x"})
        results = [{"index": 0, "status": "accepted", "incident_id": "incident-x", "duplicate": False}]
        return httpx.Response(202, json={"accepted": 1, "rejected": 0, "ignored": 0, "results": results})

    shipper = AlertShipper("http://api", "k", "suricata", retry=FAST, transport=httpx.MockTransport(handler))
    with shipper:
        assert shipper.ship([b"{}"]).accepted == 1
    assert calls[1] - calls[0] >= 0.9  # the date has one-second resolution


def test_files_split_into_alerts_and_batches() -> None:
    pretty = json.dumps(eve_alert(1), indent=2).encode()
    assert [a.where for a in split_alerts(pretty)] == [""]
    assert len(split_alerts(json.dumps([eve_alert(1), eve_alert(2)]).encode())) == 2
    ndjson = split_alerts(eve_line(1) + b"\n  \r\n" + b"{broken\r\n" + eve_line(2))
    assert [a.where for a in ndjson] == ["line 1", "line 4", "line 5"]  # NDJSON lines as a person counts them
    assert ndjson[1].data == b"{broken"
    items = split_alerts(b"".join(eve_line(n) for n in range(1100)))
    assert [len(b) for b in batches(items)] == [500, 500, 100]
    assert all(sum(len(a.data) + 1 for a in b) <= 10_000 for b in batches(items, max_bytes=10_000))


def test_from_end_sends_only_what_is_written_after_the_first_start(eve: Path, receiver: Receiver) -> None:
    append(eve, eve_line(1) + eve_line(2) + eve_line(3)[:30])  # two old lines and one still being written
    with following(eve, receiver, from_end=True):
        wait_until(lambda: saved_offset(eve) is not None, what="the first commit")
        append(eve, eve_line(3)[30:] + eve_line(4))
        wait_until(lambda: len(receiver.accepted) == 2)
    assert flow_ids(receiver.accepted) == ids(3, 4)  # the line in progress at the start is whole, and sent
    # A later start resumes from the saved offset (whatever --from-end says): nothing is skipped.
    append(eve, eve_line(5))
    with following(eve, receiver, from_end=True):
        wait_until(lambda: len(receiver.accepted) == 3)
    assert flow_ids(receiver.accepted) == ids(3, 4, 5)
