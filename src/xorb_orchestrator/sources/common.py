"""Small pieces every adapter uses: field lookup with exact JSON paths, lenient observables, times."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from xorb_orchestrator.models.alert import TECHNIQUE_PATTERN
from xorb_orchestrator.models.observable import Observable, ObservableType
from xorb_orchestrator.sources.errors import AlertFormatError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # RFC 9535 member-name shorthand
_TECHNIQUE = re.compile(TECHNIQUE_PATTERN)

# Limits of the Alert model's text fields; longer values are cut rather than refused.
TITLE_MAX = 1000
RULE_MAX = 500
CATEGORY_MAX = 200
MAX_CATEGORIES = 50
MAX_OBSERVABLES = 500
# What Windows and many logs write for "no value".
PLACEHOLDERS = frozenset({"-", ""})


@dataclass(frozen=True)
class Found:
    """A value found in an event, with the JSON path it was found at."""

    value: Any
    path: str


def child_path(base: str, key: str | int) -> str:
    """The JSON path of `key` under `base`: `$.a`, `$[0]`, or `$['kibana.alert.uuid']` for odd keys."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{base}.{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{base}['{escaped}']"


def find(obj: Any, dotted: str, base: str = "$") -> Found | None:
    """Look `dotted` up in nested objects, flat dotted keys, or any mix of the two; None if absent or null.

    ECS documents write the same field as `{"kibana": {"alert": {"uuid": ...}}}` or as
    `{"kibana.alert.uuid": ...}` (Elastic's alert indices use the flat form for `kibana.*`
    and nested objects for the rest), so each level tries the longest dotted key first.
    """
    return _find(obj, dotted.split("."), base)


def _find(obj: Any, parts: list[str], path: str) -> Found | None:
    if not parts:
        return None if obj is None else Found(obj, path)
    if not isinstance(obj, dict):
        return None
    for cut in range(len(parts), 0, -1):
        key = ".".join(parts[:cut])
        if key in obj:
            hit = _find(obj[key], parts[cut:], child_path(path, key))
            if hit is not None:
                return hit
    return None


def first(obj: Any, *dotted: str, base: str = "$") -> Found | None:
    """The first of several alternative fields that is present."""
    for name in dotted:
        hit = find(obj, name, base)
        if hit is not None:
            return hit
    return None


def value(obj: Any, *dotted: str, base: str = "$") -> Any:
    hit = first(obj, *dotted, base=base)
    return None if hit is None else hit.value


def missing_path(base: str, dotted: str) -> str:
    return base + "".join("." + part for part in dotted.split("."))


def as_list(item: Any) -> list[Any]:
    if item is None:
        return []
    return list(item) if isinstance(item, list | tuple) else [item]


def as_dict(item: Any) -> dict[str, Any]:
    return item if isinstance(item, dict) else {}


def text(item: Any, limit: int | None = None) -> str | None:
    """A string or integer as stripped text (cut to `limit`); anything else, or blank, is None."""
    if isinstance(item, bool) or not isinstance(item, str | int):
        return None
    out = str(item).strip()
    if not out:
        return None
    return out[:limit] if limit else out


def as_int(item: Any) -> int | None:
    """An integer, or a string of digits, as int; anything else is None."""
    if isinstance(item, bool):
        return None
    if isinstance(item, int):
        return item
    if isinstance(item, float) and item.is_integer():
        return int(item)
    if isinstance(item, str) and item.strip().lstrip("-").isdigit():
        return int(item.strip())
    return None


def require_text(obj: Any, *dotted: str, base: str = "$", limit: int = TITLE_MAX) -> str:
    """The first non-blank text among the alternatives; AlertFormatError naming the first if none is."""
    for name in dotted:
        hit = find(obj, name, base)
        if hit is None:
            continue
        out = text(hit.value, limit)
        if out is None:
            raise AlertFormatError(hit.path, f"expected a non-empty string, got {hit.value!r}")
        return out
    raise AlertFormatError(missing_path(base, dotted[0]), "is required")


def texts(items: Any, limit: int = CATEGORY_MAX, most: int = MAX_CATEGORIES) -> list[str]:
    """Distinct non-blank strings of a list (or one value), in order, each cut to `limit`."""
    out = [t for t in (text(i, limit) for i in as_list(items)) if t]
    return list(dict.fromkeys(out))[:most]


def techniques(ids: Iterable[Any]) -> list[str]:
    """ATT&CK technique ids in canonical form (T1234, T1234.001), distinct, in order; others skipped.

    Some rule sets write sub-techniques with an underscore (`T1059_001`) because `.` is awkward in
    their metadata syntax, so that form is accepted too.
    """
    out: list[str] = []
    for item in ids:
        candidate = text(item)
        if candidate is None:
            continue
        candidate = candidate.upper().replace("_", ".")
        if _TECHNIQUE.match(candidate) and candidate not in out:
            out.append(candidate)
    return out


def parse_time(hit: Found | None) -> datetime | None:
    """An ISO 8601 string or an epoch number as an aware datetime (naive means UTC).

    Epoch numbers are read by magnitude: microseconds above 1e14, milliseconds (OCSF's unit)
    above 1e11, else seconds. A present but unreadable time is refused rather than replaced
    with the time we received it, which would hide a misconfigured sender.
    """
    if hit is None:
        return None
    raw = hit.value
    try:
        number: float | None = None
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            number = raw
        elif isinstance(raw, str) and raw.strip().isdigit():
            number = int(raw)
        if number is not None:
            seconds = number / 1e6 if abs(number) >= 1e14 else number / 1e3 if abs(number) >= 1e11 else number
            return datetime.fromtimestamp(seconds, UTC)
        if isinstance(raw, str) and raw.strip():
            parsed = datetime.fromisoformat(raw.strip())
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise AlertFormatError(hit.path, f"{raw!r} is not a timestamp (ISO 8601 or epoch milliseconds)")


def _is_ip(item: str | int) -> bool:
    try:
        ipaddress.ip_address(str(item).strip())
    except ValueError:
        return False
    return True


def split_address(item: Any) -> tuple[Any, str | None]:
    """`(ip, port)` of an address written `1.2.3.4:80` or `[2001:db8::1]:80`; anything else as `(item, None)`.

    Some decoders keep the port on the address; whole, the value is no IP and would be dropped.
    A bare IPv6 address has colons too, so only what is not an IP on its own is split.
    """
    if not isinstance(item, str) or _is_ip(item):
        return item, None
    address, colon, port = item.strip().rpartition(":")
    if not colon or not port.isdigit():
        return item, None
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    if not _is_ip(address) or (":" in address) != item.strip().startswith("["):
        return item, None
    return address, port


class ObservableSet:
    """Observables in the order found, without duplicates. Invalid values are skipped, not fatal:
    one malformed hash must not cost the SOC the alert and its other observables.

    A value seen both with a side (src/dest) and without one is kept once, with its side.
    """

    def __init__(self) -> None:
        self._items: list[Observable] = []
        self._where: dict[tuple[ObservableType, str], list[int]] = {}

    def add(self, kind: ObservableType, item: Any, role: str | None = None) -> None:
        for one in as_list(item):
            if isinstance(one, bool) or not isinstance(one, str | int) or str(one).strip() in PLACEHOLDERS:
                continue
            # Host headers, SNI and DNS names can be bare addresses: those are IPs, not domains.
            kind_here = ObservableType.IP if kind is ObservableType.DOMAIN and _is_ip(one) else kind
            try:
                obs = Observable(type=kind_here, value=one, role=role)
            except ValidationError:
                continue
            self._put(obs)

    def _put(self, obs: Observable) -> None:
        positions = self._where.setdefault((obs.type, obs.value), [])
        roles = {self._items[i].role: i for i in positions}
        if obs.role in roles or (obs.role is None and roles):
            return
        if None in roles:  # the side-less entry gets its side, where it stands
            self._items[roles[None]] = obs
            return
        if len(self._items) < MAX_OBSERVABLES:
            positions.append(len(self._items))
            self._items.append(obs)

    def add_field(self, obj: Any, dotted: str, kind: ObservableType, role: str | None = None, base: str = "$") -> None:
        self.add(kind, value(obj, dotted, base=base), role)

    def to_list(self) -> list[Observable]:
        return list(self._items)
