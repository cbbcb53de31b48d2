"""Durations as people write them in playbooks: "30s", "5m", "2h", "1d", or combined ("1h30m")."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PATTERN = r"^(?=\d)(?:\d+d)?(?:\d+h)?(?:\d+m)?(?:\d+s)?$"
_PART = re.compile(r"(\d+)([dhms])")


def parse_duration(value: Any) -> timedelta:
    """Parse "30s", "5m", "2h", "1d" or a combination such as "1h30m"; raise ValueError naming the problem."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, str) and value.strip() and re.match(_PATTERN, value.strip()):
        seconds = sum(int(number) * _UNITS[unit] for number, unit in _PART.findall(value.strip()))
        try:
            duration = timedelta(seconds=seconds)
        except OverflowError:
            raise ValueError(f"expected a duration of at most {timedelta.max.days} days, got {value!r}") from None
    else:
        raise ValueError(f"expected a duration such as 30s, 5m, 2h or 1d, got {value!r}")
    if duration <= timedelta(0):
        raise ValueError(f"must be longer than zero, got {value!r}")
    return duration


def format_duration(duration: timedelta) -> str:
    """The shortest text `parse_duration` reads back to the same value ("1h30m", "45s")."""
    seconds = int(duration.total_seconds())
    parts = []
    for unit, size in _UNITS.items():
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _PATTERN,
            "description": "A duration: a number and a unit, d h m s, e.g. 30s, 5m, 2h, 1d or 1h30m.",
            "examples": ["30s", "5m", "2h", "1d"],
        }
    ),
]
