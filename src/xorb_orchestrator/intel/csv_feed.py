"""CSV feeds with a column mapping, and plain lists (one value per line), to SourceVerdicts.

CSV: lines starting with `#` are comments. Columns are named by the header or by 0-based index; abuse.ch writes the
header as a comment (`# id,dateadded,url,...` in URLhaus, `# "first_seen_utc","ioc_id",...` in ThreatFox), older
Feodo Tracker files as the first line: a comment line naming every mapped column is the header, and so is a first
line that does. Fields may be separated by ", " (ThreatFox). A cell reading `None` (ThreatFox) is empty.

The kind of a row: its `type` column (abuse.ch and ThreatFox names understood, `TYPE_NAMES`), else the feed's one
`kind`, else guessed from the value. `ip:port` values keep the address. Score and confidence come from their columns
(0-100) or the feed's defaults; tags from one or more columns, each split at commas; `reference` from its column.

A plain list: one value per line; blank lines and lines starting with `#` or `;` are skipped, and only the first
word of a line is the value (Spamhaus DROP writes `192.0.2.0/24 ; SBL123`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainValidator, WithJsonSchema

from xorb_orchestrator.intel.batch import Collector, FeedDefaults, FeedFormatError, ParsedFeed, bounded_tags
from xorb_orchestrator.intel.times import parse_time
from xorb_orchestrator.intel.values import canonical, guess, ip_value
from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict

MAX_COLUMN = 1000


def _column_ref(value: object) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COLUMN:
        return value
    if isinstance(value, str) and 0 < len(value.strip()) <= 100:
        return value.strip()
    raise ValueError(f"expected a column name or a 0-based index up to {MAX_COLUMN}")


def _column_refs(value: object) -> list[str | int]:
    return [_column_ref(item) for item in value] if isinstance(value, list) else [_column_ref(value)]


_REF_SCHEMA = {"anyOf": [{"type": "string"}, {"type": "integer", "minimum": 0}]}
ColumnRef = Annotated[str | int, PlainValidator(_column_ref), WithJsonSchema(_REF_SCHEMA)]
# One column or several (tags): always a list once read.
ColumnRefs = Annotated[
    list[str | int], PlainValidator(_column_refs), WithJsonSchema({"anyOf": [_REF_SCHEMA, {"type": "array"}]})
]

# Type names as feeds write them (compared without case) → kind. IP kinds follow the value's actual version.
TYPE_NAMES: dict[str, IndicatorKind] = {
    **dict.fromkeys(("ip", "ipv4", "ip-dst", "ip-src", "ipv4-addr", "ip:port", "cidr", "network"), IndicatorKind.IPV4),
    **dict.fromkeys(("ipv6", "ipv6-addr"), IndicatorKind.IPV6),
    **dict.fromkeys(("domain", "hostname", "fqdn", "domain-name"), IndicatorKind.DOMAIN),
    "url": IndicatorKind.URL,
    **dict.fromkeys(("md5", "md5_hash"), IndicatorKind.MD5),
    **dict.fromkeys(("sha1", "sha1_hash"), IndicatorKind.SHA1),
    **dict.fromkeys(("sha256", "sha256_hash"), IndicatorKind.SHA256),
    **dict.fromkeys(("email", "email-addr", "email-src"), IndicatorKind.EMAIL),
}
_IP_KINDS = (IndicatorKind.IPV4, IndicatorKind.IPV6)


class CsvColumns(BaseModel):
    """Which column holds what: a header name or a 0-based index. Only `value` is required."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: ColumnRef
    type: ColumnRef | None = None
    score: ColumnRef | None = None
    confidence: ColumnRef | None = None
    first_seen: ColumnRef | None = None
    last_seen: ColumnRef | None = None
    valid_until: ColumnRef | None = None
    reference: ColumnRef | None = None
    tags: ColumnRefs | None = None

    def refs(self) -> dict[str, list[str | int]]:
        """Every mapped field with its column references."""
        mapped: dict[str, list[str | int]] = {}
        for name in type(self).model_fields:
            ref = getattr(self, name)
            if ref is not None:
                mapped[name] = list(ref) if isinstance(ref, list) else [ref]
        return mapped


def parse_csv(
    text: str | Iterable[str],
    *,
    columns: CsvColumns,
    defaults: FeedDefaults,
    kind: IndicatorKind | None = None,
    known_good: bool = False,
) -> ParsedFeed:
    """The verdicts of a CSV document (rules in the module docstring); FeedFormatError when its columns are missing."""
    mapped = columns.refs()
    named = {ref.casefold() for refs in mapped.values() for ref in refs if isinstance(ref, str)}
    lines = _Lines(text, named)
    index = None if named else _by_position(mapped)
    collector = Collector()
    try:
        for row in csv.reader(lines.data(), skipinitialspace=True):
            if index is None:
                if lines.header is None and set(_names(row)) >= named:  # the header as the first line
                    index = _by_name(mapped, _names(row))
                    continue
                if lines.header is None:
                    raise FeedFormatError(f"no header line names the columns {', '.join(sorted(named))}")
                index = _by_name(mapped, lines.header)
            _row(row, lines.number, index, kind, known_good, defaults, collector)
    except csv.Error as error:
        raise FeedFormatError(f"line {lines.number}: {error}") from None
    return collector.result()


def parse_plain_list(
    text: str | Iterable[str], *, defaults: FeedDefaults, kind: IndicatorKind | None = None, known_good: bool = False
) -> ParsedFeed:
    """The verdicts of a list with one value per line (rules in the module docstring)."""
    collector = Collector()
    for number, line in enumerate(_lines(text), start=1):
        words = line.split(None, 1)
        if not words or words[0][0] in "#;":
            continue
        _add(words[0], kind, number, {}, known_good, defaults, collector)
    return collector.result()


class _Lines:
    """A CSV document's lines: counts them, passes on the data lines, and finds a header among the comments."""

    def __init__(self, text: str | Iterable[str], named: set[str]) -> None:
        self._lines = _lines(text)
        self._named = named
        self.number = 0
        self.header: list[str] | None = None

    def data(self) -> Iterator[str]:
        """The lines that are not comments; a comment naming every mapped column becomes `header`."""
        for line in self._lines:
            self.number += 1
            if not line.startswith("#"):
                yield line
            elif self._named and self.header is None:
                names = _names(next(csv.reader([line.lstrip("#").strip()], skipinitialspace=True), []))
                if set(names) >= self._named:
                    self.header = names


def _lines(text: str | Iterable[str]) -> Iterable[str]:
    return io.StringIO(text, newline="") if isinstance(text, str) else text


def _names(row: list[str]) -> list[str]:
    return [cell.strip().casefold() for cell in row]


def _by_position(mapped: dict[str, list[str | int]]) -> dict[str, list[int]]:
    return {name: [ref for ref in refs if isinstance(ref, int)] for name, refs in mapped.items()}


def _by_name(mapped: dict[str, list[str | int]], header: list[str]) -> dict[str, list[int]]:
    positions = {name: position for position, name in reversed(list(enumerate(header)))}
    index: dict[str, list[int]] = {}
    for name, refs in mapped.items():
        index[name] = [ref if isinstance(ref, int) else positions[ref.casefold()] for ref in refs]
    return index


def _row(
    row: list[str],
    number: int,
    index: dict[str, list[int]],
    kind: IndicatorKind | None,
    known_good: bool,
    defaults: FeedDefaults,
    collector: Collector,
) -> None:
    if len(row) <= 1 and not (row and row[0].strip()):
        return  # a blank line
    cells: dict[str, list[str]] = {}
    try:
        for name, positions in index.items():
            found = [cell for cell in (row[position].strip() for position in positions) if cell and cell != "None"]
            if found:
                cells[name] = found
    except IndexError:
        collector.skip("invalid", f"line {number}", f"{len(row)} fields, too few for the mapped columns")
        return
    type_name = _first(cells, "type")
    if type_name is not None:
        kind = TYPE_NAMES.get(type_name.lower())
        if kind is None:
            collector.skip("unsupported type", f"line {number}", f"type {type_name[:40]!r}")
            return
        if type_name.lower() == "ip:port" and "value" in cells:
            cells["value"] = [_address_of(value) for value in cells["value"]]
    value = _first(cells, "value")
    if value is None:
        collector.skip("invalid", f"line {number}", "no value")
        return
    _add(value, kind, number, cells, known_good, defaults, collector)


def _add(
    raw: str,
    kind: IndicatorKind | None,
    number: int,
    cells: dict[str, list[str]],
    known_good: bool,
    defaults: FeedDefaults,
    collector: Collector,
) -> None:
    try:
        kind, value = guess(raw) if kind is None else canonical(kind, raw)
        score = _percent(cells, "score")
        confidence = _percent(cells, "confidence")
        first_seen = parse_time(_first(cells, "first_seen"))
        last_seen = parse_time(_first(cells, "last_seen"))
        valid_until = parse_time(_first(cells, "valid_until"))
    except ValueError as error:
        collector.skip("invalid value", f"line {number}", str(error))
        return
    tags = [tag for cell in cells.get("tags", []) for tag in cell.split(",")]
    reference = _first(cells, "reference")
    collector.add(
        SourceVerdict(
            source=defaults.source,
            kind=kind,
            value=value,
            score=0 if known_good else defaults.score if score is None else score,
            confidence=defaults.confidence if confidence is None else confidence,
            tlp=defaults.tlp,
            tags=bounded_tags(tags),
            first_seen=first_seen,
            last_seen=last_seen,
            valid_until=valid_until,
            known_good=known_good,
            reference=reference[:200] if reference else None,
        )
    )


def _first(cells: dict[str, list[str]], name: str) -> str | None:
    found = cells.get(name)
    return found[0] if found else None


def _percent(cells: dict[str, list[str]], name: str) -> int | None:
    text = _first(cells, name)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        number = -1.0
    if not 0 <= number <= 100:
        raise ValueError(f"{name} must be a number from 0 to 100, got {text[:40]!r}")
    return round(number)


def _address_of(value: str) -> str:
    """The address of "192.0.2.1:443" or "[2001:db8::1]:443"; a value without a port as it is."""
    try:
        ip_value(value)
        return value
    except ValueError:
        pass
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] or value
