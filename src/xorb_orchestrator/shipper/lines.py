"""A file of alerts as the lines to send: one JSON object, a JSON array, or NDJSON; and batches of them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass


def clean_line(line: bytes) -> bytes:
    """One alert as one NDJSON line: no line end, and no CR inside (the API splits lines on CR too).

    A CR can only stand between tokens of valid JSON (inside strings it is escaped), so a space
    in its place changes nothing; a line that is not JSON is rejected either way.
    """
    return line.rstrip(b"\r\n").replace(b"\r", b" ").replace(b"\n", b" ")


@dataclass(frozen=True)
class AlertLine:
    """One alert of a file to send, and where it was in the file ("line 7"; empty for a JSON array's items)."""

    data: bytes
    where: str = ""


def split_alerts(data: bytes) -> list[AlertLine]:
    """A file's alerts: one JSON object (pretty-printed or not), a JSON array of them, or NDJSON.

    Array items and a lone object are sent re-serialized on one line each; NDJSON lines as they are,
    so a malformed one reaches the API and comes back rejected with its reason.
    """
    if data.lstrip()[:1] in (b"[", b"{"):
        try:
            document = json.loads(data)
        except ValueError:  # not one JSON document: NDJSON (or a broken file, rejected line by line)
            document = None
        if isinstance(document, list):
            return [AlertLine(_compact(item)) for item in document]
        if isinstance(document, dict):
            return [AlertLine(_compact(document))]
    return [
        AlertLine(line.rstrip(b"\r"), f"line {number}")
        for number, line in enumerate(data.split(b"\n"), start=1)
        if line.strip()
    ]


def batches(items: Sequence[AlertLine], max_lines: int = 500, max_bytes: int = 512 * 1024) -> list[list[AlertLine]]:
    """Consecutive runs of at most `max_lines` lines and (unless one line is larger) `max_bytes` bytes."""
    out: list[list[AlertLine]] = []
    size = 0
    for item in items:
        if not out or len(out[-1]) >= max_lines or size + len(item.data) + 1 > max_bytes:
            out.append([])
            size = 0
        out[-1].append(item)
        size += len(item.data) + 1
    return out


def _compact(item: object) -> bytes:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
