"""The dead-letter file: the lines `xorb alerts follow` set aside, so that a person can look and send them again.

A line is set aside when the API rejected it as invalid, or kept failing on it alone with a server error.
Each becomes one JSON object on one line of `<state file>.dead`:

    {"time": "2024-05-14T09:21:07.412Z", "file": "/var/log/suricata/eve.json", "offset": 1234,
     "status": 500, "error": "internal error; see the service log", "line": "{\"timestamp\": ...}"}

`offset` is the line's byte offset in `file` (`where`, e.g. "line 7", when there is no offset); `status` is the
HTTP status that decided it, or "rejected" for a line the API answered rejected among others; `line` is the line
as text, cut to LINE_KEEP_BYTES with `"truncated": true`. Records are appended, flushed and fsynced before the
offset past their lines is committed: a crash may write a record twice, never lose one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from xorb_orchestrator.shipper.lines import AlertLine
from xorb_orchestrator.shipper.results import ItemResult

# Alerts are small; a longer line is kept in part, enough to tell what it was.
LINE_KEEP_BYTES = 64 * 1024
# Growth bound: past this size, records are still written (about 300 bytes each: when, where, why) but
# without the line. A stream of poison then costs little disk, and the record of every line stays whole.
BODY_LIMIT_BYTES = 64 * 1024 * 1024


class NotADeadLetterFile(ValueError):
    """A line of a file to replay is not a dead-letter record; the message is one line for the user."""


@dataclass(frozen=True)
class DeadLetter:
    """One line set aside: the file it came from, where in it, why, and the line itself."""

    file: str
    where: int | str  # the byte offset in `file`, else a description ("line 7")
    status: int | str  # the HTTP status that decided it, or "rejected"
    error: str
    line: bytes


def dead_letter(item: ItemResult, line: bytes, file: str, where: int | str) -> DeadLetter:
    """The record of a line the shipper answered rejected or failed."""
    status: int | str = item.http_status if item.http_status is not None else "rejected"
    error = item.error or item.status
    if item.http_status is None and item.path:
        error = f"{item.path}: {error}"  # the bad field, as `xorb alerts send` prints it
    return DeadLetter(file, where, status, " ".join(error.split()), line)


def append_dead_letters(path: Path, letters: Sequence[DeadLetter]) -> None:
    """Append the records and make them durable; opened for each call, so the file may be moved away."""
    with open(path, "ab") as out:
        size = os.fstat(out.fileno()).st_size
        for letter in letters:
            data = json.dumps(_record(letter, keep_line=size < BODY_LIMIT_BYTES), ensure_ascii=False).encode()
            out.write(data + b"\n")
            size += len(data) + 1
        out.flush()
        os.fsync(out.fileno())


def _record(letter: DeadLetter, *, keep_line: bool) -> dict[str, Any]:
    record: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "file": letter.file,
        "offset" if isinstance(letter.where, int) else "where": letter.where,
        "status": letter.status,
        "error": letter.error,
    }
    if not keep_line:
        record.update(line=None, truncated=True)
    elif len(letter.line) > LINE_KEEP_BYTES:
        record.update(line=letter.line[:LINE_KEEP_BYTES].decode(errors="replace"), truncated=True)
    else:
        record["line"] = letter.line.decode(errors="replace")
    return record


def replay_lines(data: bytes) -> tuple[list[AlertLine], int]:
    """The whole lines of a dead-letter file, to send again, and how many records had no whole line."""
    lines: list[AlertLine] = []
    partial = 0
    for number, text in enumerate(data.split(b"\n"), start=1):
        if not text.strip():
            continue
        record = _parse(text, number)
        if record.get("truncated") or not isinstance(record.get("line"), str):
            partial += 1
            continue
        lines.append(AlertLine(record["line"].encode(), f"dead letter on line {number}"))
    return lines, partial


def _parse(text: bytes, number: int) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if not isinstance(record, dict) or "line" not in record:
        raise NotADeadLetterFile(f"line {number} is not a dead-letter record (a JSON object with a 'line')")
    return record
