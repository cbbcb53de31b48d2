"""Following a growing log of alerts (Suricata's eve.json, Wazuh's alerts.json) like `tail -F`.

Where it is in the file — (device, inode, offset) — is kept in a small state file, written atomically
and only once the API has answered for every line before that offset. So a follower killed at any
moment, started again, resumes where the API last confirmed: a line may be sent twice (the API drops
re-deliveries) but never skipped.

Rotation is handled the two ways logrotate does it:
- rename (`eve.json` → `eve.json.1`, a new `eve.json`): the old file is read to its end, then the new
  one from offset 0; rotated while the follower was stopped, the old file is found by its inode among
  its siblings and finished first;
- copytruncate (the file shrinks below the offset): read again from offset 0.
A last line without its newline is not sent until the newline arrives (the writer is mid-line), except
at the very end of a file rotated away, which will never get one.

A line the API rejects, or keeps failing on alone (see `sender`), is appended to the dead-letter file
(`<state file>.dead`, see `dead_letter`) before the offset passes it: every line is either delivered or
written down, and one bad line never stops the lines after it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from xorb_orchestrator.shipper.dead_letter import append_dead_letters, dead_letter
from xorb_orchestrator.shipper.position import (
    HEAD_BYTES,
    STATE_SUFFIX,
    Position,
    dead_letter_path,
    head_digest,
    load_position,
    save_position,
)
from xorb_orchestrator.shipper.results import BatchResult, ItemResult
from xorb_orchestrator.shipper.sender import ShippingStopped

log = logging.getLogger(__name__)

CHUNK_BYTES = 64 * 1024
# A "line" longer than this is not an alert (the API takes 1 MiB a request); it is skipped, not buffered.
MAX_LINE_BYTES = 8 * 1024 * 1024
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip")
SUMMARY_EVERY = 60.0


class Shipper(Protocol):
    def ship(self, lines: Sequence[bytes]) -> BatchResult: ...


@dataclass
class FollowStats:
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    ignored: int = 0
    failed: int = 0  # the API kept failing on the line alone (5xx)
    dead_lettered: int = 0  # rejected and failed lines written to the dead-letter file
    batches: int = 0
    rotations: int = 0
    truncations: int = 0

    def add(self, result: BatchResult) -> None:
        self.batches += 1
        self.lines += len(result.results)
        self.accepted += result.accepted
        self.duplicates += result.duplicates
        self.rejected += result.rejected
        self.ignored += result.ignored
        self.failed += result.failed

    def __str__(self) -> str:
        return (
            f"{self.lines} lines sent: {self.accepted} accepted ({self.duplicates} duplicates), "
            f"{self.rejected} rejected, {self.ignored} ignored, {self.failed} failed; "
            f"{self.dead_lettered} dead-lettered"
        )


class FileFollower:
    """Tails one file and ships its lines in batches; `run()` returns when `stop` is set."""

    def __init__(
        self,
        path: Path,
        state_path: Path,
        shipper: Shipper,
        *,
        stop: threading.Event | None = None,
        max_lines: int = 500,
        max_bytes: int = 512 * 1024,
        max_delay: float = 0.5,
        poll_interval: float = 0.1,
        rotate_grace: float = 1.0,
        from_end: bool = False,
    ) -> None:
        self.path = path.absolute()
        self.state_path = state_path.absolute()
        self.dead_letter_path = dead_letter_path(self.state_path)
        self.stats = FollowStats()
        self._shipper = shipper
        self._stop = stop or threading.Event()
        self._max_lines, self._max_bytes, self._max_delay = max_lines, max_bytes, max_delay
        self._poll, self._grace = poll_interval, rotate_grace
        self._from_end = from_end  # no saved offset: start after the file's last complete line, not at 0

        self._file: BinaryIO | None = None
        self._name = self.path  # the file open now: the path, or a rotated sibling being finished
        self._ident = (0, 0)
        self._consumed = 0  # offset just after the last complete line taken from the file
        self._committed = -1  # offset in the state file (-1: the state file is about another file)
        self._buf = bytearray()  # bytes after _consumed: the start of a line still being written
        self._scan = 0  # where in _buf to look for the next newline
        self._overlong = False
        self._head = b""  # the file's first bytes, as read (HEAD_BYTES at most)
        self._batch: list[bytes] = []
        self._offsets: list[int] = []  # each batched line's offset, for the log
        self._batch_bytes = 0
        self._batch_since = 0.0
        self._last_data = 0.0
        self._rotated_since: float | None = None
        self._idle = False  # the last read found the end of the file
        self._last_summary = time.monotonic()

    # --- the loop -------------------------------------------------------------------------------------

    def run(self) -> FollowStats:
        """Follow until stopped. The position is committed after every answered batch, so there is
        nothing left to save on the way out; a batch not yet answered is sent again next time."""
        try:
            if not self._open_first():
                return self.stats
            while not self._stop.is_set():
                self._take_lines()
                now = time.monotonic()
                if self._full() or (self._batch and now - self._batch_since >= self._max_delay):
                    self._flush()
                    continue
                if self._idle and self._truncated():  # checked before reading on: the bytes may be new ones
                    self._restart_truncated()
                if self._read():
                    self._idle = False
                    continue
                self._idle = True
                if self._batch:  # the file is quiet: wait out the rest of the batch's delay
                    self._stop.wait(min(self._poll, self._max_delay - (now - self._batch_since)))
                    continue
                if self._consumed != self._committed:
                    self._commit()  # only blank lines since the last batch
                self._check_file()
                self._summary()
                self._stop.wait(self._poll)
        except ShippingStopped as exc:
            log.info("%s; they are sent again on the next start", exc)
        finally:
            if self._file is not None:
                self._file.close()
        log.info("stopped following %s at offset %d: %s", self._name, self._committed, self.stats)
        return self.stats

    def _full(self) -> bool:
        return len(self._batch) >= self._max_lines or self._batch_bytes >= self._max_bytes

    def _read(self) -> bool:
        """Read what the file has past our position; False at its end."""
        assert self._file is not None
        data = self._file.read(CHUNK_BYTES)
        if not data:
            return False
        position = self._consumed + len(self._buf)
        if position < HEAD_BYTES:
            self._head += data[: HEAD_BYTES - position]
        self._buf += data
        self._last_data = time.monotonic()
        return True

    def _take_lines(self) -> None:
        """Move the complete lines from the buffer into the batch, while it has room."""
        while not self._full():
            newline = self._buf.find(b"\n", self._scan)
            if newline < 0:
                self._scan = len(self._buf)
                if len(self._buf) > MAX_LINE_BYTES:
                    self._skip_overlong()
                return
            line, start = bytes(self._buf[:newline]), self._consumed
            del self._buf[: newline + 1]
            self._scan = 0
            self._consumed += newline + 1
            if self._overlong:
                self._overlong = False
                continue
            self._add(line, start)

    def _add(self, line: bytes, offset: int) -> None:
        if not line.strip():
            return  # blank lines are skipped (the API skips them too); the offset still moves past them
        if not self._batch:
            self._batch_since = time.monotonic()
        self._batch.append(line)
        self._offsets.append(offset)
        self._batch_bytes += len(line) + 1

    def _skip_overlong(self) -> None:
        if not self._overlong:
            log.warning(
                "%s: the line at offset %d is longer than %d bytes; skipping it (no alert is that long)",
                self._name, self._consumed, MAX_LINE_BYTES,
            )  # fmt: skip
        self._overlong = True
        self._consumed += len(self._buf)
        self._buf.clear()
        self._scan = 0

    def _flush(self) -> None:
        """Ship the batch, write down the lines set aside, report, and only then commit the offset after it."""
        if self._batch:
            result = self._shipper.ship(self._batch)
            self._set_aside(result.set_aside)
            self._report(result)
            self._batch, self._offsets, self._batch_bytes = [], [], 0
        self._commit()

    def _commit(self) -> None:
        if self._consumed == self._committed:
            return
        position = Position(*self._ident, self._consumed, head_digest(self._head[: min(self._consumed, HEAD_BYTES)]))
        save_position(self.state_path, position, followed=self._name)
        self._committed = self._consumed

    def _set_aside(self, items: list[ItemResult]) -> None:
        """Append the batch's rejected and failed lines to the dead-letter file; one warning each, without
        the line itself (it may hold anything, and the dead-letter file has it)."""
        if not items:
            return
        letters = [dead_letter(i, self._batch[i.index], str(self._name), self._offsets[i.index]) for i in items]
        append_dead_letters(self.dead_letter_path, letters)
        self.stats.dead_lettered += len(letters)
        for item, letter in zip(items, letters, strict=True):
            reason = f"the API answered {item.http_status}: {letter.error}" if item.status == "failed" else letter.error
            log.warning(
                "%s alert at %s offset %s: %s; dead-lettered to %s",
                item.status, self._name, letter.where, reason, self.dead_letter_path,
            )  # fmt: skip

    def _report(self, result: BatchResult) -> None:
        self.stats.add(result)
        level = logging.INFO if result.duplicates or result.set_aside else logging.DEBUG
        log.log(
            level,
            "sent %d lines up to %s offset %d: %d accepted (%d duplicates), %d rejected, %d ignored, %d failed",
            len(result.results), self._name, self._consumed, result.accepted, result.duplicates,
            result.rejected, result.ignored, result.failed,
        )  # fmt: skip

    def _summary(self) -> None:
        if time.monotonic() - self._last_summary >= SUMMARY_EVERY:
            self._last_summary = time.monotonic()
            log.info("following %s at offset %d: %s so far", self._name, self._committed, self.stats)

    # --- which file -----------------------------------------------------------------------------------

    def _open_first(self) -> bool:
        """Open the file of the saved position (the path, or a rotated sibling), else the path from 0."""
        saved = load_position(self.state_path)
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        waiting = False
        while not self._stop.is_set():
            target = self._locate(saved)
            if target is not None:
                with contextlib.suppress(FileNotFoundError):
                    self._start(open(target, "rb", buffering=0), target, saved)  # noqa: SIM115 (kept open)
                    return True
            if not waiting:
                log.warning("waiting for %s to appear", self.path)
                waiting = True
            self._stop.wait(self._poll)
        return False

    def _locate(self, saved: Position | None) -> Path | None:
        current = _stat(self.path)
        if saved is None or (current is not None and saved.same_file(current)):
            return self.path if current is not None else None
        for sibling in self._rotated_siblings():
            stat = _stat(sibling)
            if stat is not None and saved.same_file(stat):
                return sibling
        return self.path if current is not None else None

    def _rotated_siblings(self) -> list[Path]:
        """`eve.json.1`, `eve.json-20240514` ...: where logrotate renames the file (not compressed ones)."""
        try:
            entries = list(self.path.parent.iterdir())
        except OSError:
            return []
        return [
            entry
            for entry in entries
            if entry.name.startswith(self.path.name)
            and entry != self.path
            and not entry.name.startswith(self.state_path.name)
            and not entry.name.endswith((STATE_SUFFIX, ".tmp", *COMPRESSED))
        ]

    def _start(self, file: BinaryIO, name: Path, saved: Position | None) -> None:
        stat = os.fstat(file.fileno())
        offset = 0
        if saved is not None and saved.same_file(stat):
            head = os.pread(file.fileno(), min(saved.offset, HEAD_BYTES), 0)
            if stat.st_size < saved.offset:
                log.warning("%s is shorter than the saved offset (truncated): reading it from the start", name)
            elif head_digest(head) != saved.head:
                log.warning("%s was rewritten since the saved offset: reading it from the start", name)
            else:
                offset = saved.offset
        elif saved is not None:
            log.info("%s is not the file of the saved offset (rotated?): reading it from the start", name)
        elif self._from_end:
            offset = _after_last_line(file, stat.st_size)
            log.info("%s: starting at its end (--from-end), after %d bytes already there", name, offset)
        file.seek(offset)
        self._file, self._name, self._ident = file, name, (stat.st_dev, stat.st_ino)
        self._consumed = offset
        self._head = os.pread(file.fileno(), min(offset, HEAD_BYTES), 0)
        self._committed = saved.offset if saved is not None and saved.same_file(stat) else -1
        if name != self.path:
            log.info("finishing %s (rotated while stopped) from offset %d, then %s", name, offset, self.path)
        log.info(
            "following %s from offset %d (state file %s, dead letters to %s)",
            name, offset, self.state_path, self.dead_letter_path,
        )  # fmt: skip
        self._commit()

    def _check_file(self) -> None:
        """At the end of the file: has it been renamed away, with a new file in its place?"""
        assert self._file is not None
        current = _stat(self.path)
        if current is not None and (current.st_dev, current.st_ino) == self._ident:
            self._rotated_since = None
            return
        # The path names another file now, or none yet: ours was rotated away (or deleted).
        now = time.monotonic()
        if self._rotated_since is None:
            self._rotated_since = now
        if current is None or now - max(self._rotated_since, self._last_data) < self._grace:
            return  # keep reading the old file: its writer may not have moved on yet
        self._switch_to_new()

    def _truncated(self) -> bool:
        """Shorter than where we are (copytruncate), or its first bytes differ (truncated and rewritten)."""
        assert self._file is not None
        if os.fstat(self._file.fileno()).st_size < self._consumed + len(self._buf):
            return True
        return bool(self._head) and os.pread(self._file.fileno(), len(self._head), 0) != self._head

    def _restart_truncated(self) -> None:
        assert self._file is not None
        self._flush()  # the complete lines read before the truncation were real lines of the file
        log.warning("%s was truncated (copytruncate?): reading it from the start", self._name)
        self.stats.truncations += 1
        self._file.seek(0)
        self._buf.clear()
        self._scan, self._consumed, self._head, self._overlong = 0, 0, b"", False
        self._commit()

    def _finish_old(self) -> None:
        """Whatever the rotated file still has, and a last line that will never get its newline."""
        while True:
            self._take_lines()
            if self._full():
                self._flush()
            elif not self._read():
                break
        if self._buf.strip() and not self._overlong:
            log.info("%s: its last line has no newline; sending it as it is", self._name)
            self._add(bytes(self._buf), self._consumed)
        self._consumed += len(self._buf)
        self._buf.clear()
        self._scan, self._overlong = 0, False
        self._flush()

    def _switch_to_new(self) -> None:
        assert self._file is not None
        try:
            new = open(self.path, "rb", buffering=0)  # noqa: SIM115 (kept open)
        except FileNotFoundError:
            return
        try:
            self._finish_old()
        except BaseException:
            new.close()
            raise
        self._file.close()
        stat = os.fstat(new.fileno())
        log.info("%s was rotated: now following the new %s from the start", self._name, self.path)
        self.stats.rotations += 1
        self._file, self._name, self._ident = new, self.path, (stat.st_dev, stat.st_ino)
        self._buf.clear()
        self._scan, self._consumed, self._committed, self._head = 0, 0, -1, b""
        self._rotated_since = None
        self._commit()


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _after_last_line(file: BinaryIO, size: int) -> int:
    """The offset just after the last newline (a line still being written is read when it is complete)."""
    tail = os.pread(file.fileno(), min(size, CHUNK_BYTES), max(0, size - CHUNK_BYTES))
    newline = tail.rfind(b"\n")
    return size if newline < 0 and size > CHUNK_BYTES else max(0, size - len(tail) + newline + 1)
