"""Times as feeds write them: ISO 8601 (STIX, MISP), "2024-01-15 08:07:21" (abuse.ch), epoch seconds (MISP)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

# Epoch seconds outside these bounds are milliseconds or garbage, not a time a feed meant.
_EPOCH_MIN = 0
_EPOCH_MAX = 253402300799  # 9999-12-31T23:59:59Z


def parse_time(value: object) -> datetime | None:
    """A UTC datetime from ISO 8601 text, a date, or epoch seconds (number or digits); None when empty.

    A time without a zone is UTC (abuse.ch exports say so in their headers). Raises ValueError when unreadable.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, bool):
        raise ValueError(f"expected a time, got {value!r}")
    elif isinstance(value, int | float):
        moment = _from_epoch(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        return _from_text(text)
    else:
        raise ValueError(f"expected a time, got {type(value).__name__}")
    return _utc(moment)


@lru_cache(maxsize=4096)  # exports repeat the same times (a date, an import run's second) on many lines
def _from_text(text: str) -> datetime:
    return _utc(_from_epoch(int(text)) if text.isdigit() else _from_iso(text))


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _from_epoch(seconds: float) -> datetime:
    if not _EPOCH_MIN <= seconds <= _EPOCH_MAX:
        raise ValueError(f"{seconds!r} is not a time in epoch seconds")
    return datetime.fromtimestamp(seconds, UTC)


def _from_iso(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.removesuffix(" UTC"))
    except ValueError:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f"{shown!r} is not an ISO 8601 time") from None
