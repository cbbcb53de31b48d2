"""MISP to SourceVerdicts: a MISP feed (manifest.json and one <uuid>.json per event) and `/attributes/restSearch`.

Attributes, the event's own and those inside its objects, become verdicts by type (`ATTRIBUTE_KINDS`); a composite
type keeps the part that is an indicator (`filename|sha256` the digest, `ip-dst|port` the address, `domain|ip`
both, as MISP's own IDS exports do). An attribute with `to_ids: false` is context, not a reason to act: it is skipped
and counted ("not for detection"); one without `to_ids` counts as true, as MISP's defaults for these types do. A
deleted attribute (or one in a deleted object) is kept as revoked, so an update withdraws it.

Tags: the attribute's, then the event's; `tlp:*` tags set the TLP (the strictest one wins; tlp:white is clear) and are
not repeated as tags. Times: first_seen is the attribute's first_seen; last_seen its last_seen, else its timestamp
(the last change, which MISP's own decay models count from). `reference` is the attribute's uuid.

Score, from the event's threat_level_id: 1 High → 80, 2 Medium → 50, 3 Low → 30, 4 Undefined or absent → the feed's
default score. Decay is not applied here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from xorb_orchestrator.intel.batch import (
    Collector,
    FeedDefaults,
    FeedFormatError,
    ParsedFeed,
    bounded_tags,
    stricter_tlp,
    tlp_named,
)
from xorb_orchestrator.intel.times import parse_time
from xorb_orchestrator.intel.values import canonical
from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict, Tlp

IP = IndicatorKind.IPV4  # canonical() gives an IPv6 value its own kind
# MISP attribute type → (kind, part): part 0 is the whole value or a composite's left side, 1 its right side.
ATTRIBUTE_KINDS: dict[str, tuple[tuple[IndicatorKind, int], ...]] = {
    "ip-src": ((IP, 0),),
    "ip-dst": ((IP, 0),),
    "ip-src|port": ((IP, 0),),
    "ip-dst|port": ((IP, 0),),
    "domain": ((IndicatorKind.DOMAIN, 0),),
    "hostname": ((IndicatorKind.DOMAIN, 0),),
    "hostname|port": ((IndicatorKind.DOMAIN, 0),),
    "domain|ip": ((IndicatorKind.DOMAIN, 0), (IP, 1)),
    "url": ((IndicatorKind.URL, 0),),
    "md5": ((IndicatorKind.MD5, 0),),
    "sha1": ((IndicatorKind.SHA1, 0),),
    "sha256": ((IndicatorKind.SHA256, 0),),
    "filename|md5": ((IndicatorKind.MD5, 1),),
    "filename|sha1": ((IndicatorKind.SHA1, 1),),
    "filename|sha256": ((IndicatorKind.SHA256, 1),),
    "malware-sample": ((IndicatorKind.MD5, 1),),  # "filename|md5" of an attached sample
    "email": ((IndicatorKind.EMAIL, 0),),
    "email-src": ((IndicatorKind.EMAIL, 0),),
    "email-dst": ((IndicatorKind.EMAIL, 0),),
}
THREAT_LEVEL_SCORES = {1: 80, 2: 50, 3: 30}
_NEVER = datetime.min.replace(tzinfo=UTC)
_TRUE = (True, 1, "1", "true", "True")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class ManifestEntry:
    """One event a MISP feed lists: its uuid (lower case, checked), title and last change."""

    uuid: str
    info: str
    timestamp: datetime | None


@dataclass(frozen=True)
class Manifest:
    """A feed's manifest.json: the events, oldest change first, and the entries skipped (bounded reasons)."""

    events: list[ManifestEntry]
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)


def read_manifest(document: object) -> Manifest:
    """The events of a MISP feed's manifest.json (`{event uuid: {info, timestamp, ...}}`).

    Keys that are not UUIDs are skipped: the caller builds `<uuid>.json` paths from them.
    """
    if not isinstance(document, Mapping):
        raise FeedFormatError("manifest.json must be an object of event uuid → event summary")
    collector = Collector()
    events = []
    for key, summary in document.items():
        uuid = str(key).lower()
        if not _UUID.match(uuid):
            collector.skip("invalid", "manifest", f"{str(key)[:60]!r} is not an event uuid")
            continue
        summary = summary if isinstance(summary, Mapping) else {}
        try:
            timestamp = parse_time(summary.get("timestamp"))
        except ValueError as error:
            collector.skip("invalid", uuid, f"timestamp: {error}")
            continue
        events.append(ManifestEntry(uuid=uuid, info=str(summary.get("info", ""))[:200], timestamp=timestamp))
    events.sort(key=lambda event: (event.timestamp or _NEVER, event.uuid))
    result = collector.result()
    return Manifest(events=events, skipped=result.skipped, reasons=result.reasons)


def changed_events(manifest: Manifest, known: Mapping[str, datetime]) -> list[str]:
    """The uuids of events new since `known` (uuid → the timestamp last imported) or changed after it."""
    return [
        event.uuid
        for event in manifest.events
        if event.uuid not in known or event.timestamp is None or event.timestamp > known[event.uuid]
    ]


def event_file(uuid: str) -> str:
    """The file name of an event in a feed directory; refuses anything that is not a UUID (no path tricks)."""
    if not _UUID.match(uuid):
        raise ValueError(f"{uuid[:60]!r} is not an event uuid")
    return f"{uuid}.json"


def parse_misp_event(document: object, *, defaults: FeedDefaults) -> ParsedFeed:
    """The verdicts of one feed event file (`{"Event": {...}}`, or the event object itself)."""
    event = document.get("Event", document) if isinstance(document, Mapping) else None
    if not isinstance(event, Mapping) or not isinstance(event.get("Attribute", []), list):
        raise FeedFormatError('expected a MISP event: {"Event": {"Attribute": [...], "Object": [...]}}')
    collector = Collector()
    context = _EventContext.of(event, defaults)
    for attribute, deleted_object in _event_attributes(event):
        _attribute(attribute, context, deleted_object, defaults, collector)
    return collector.result()


def parse_misp_attributes(document: object, *, defaults: FeedDefaults) -> ParsedFeed:
    """The verdicts of an `/attributes/restSearch` JSON response (`{"response": {"Attribute": [...]}}`)."""
    response = document.get("response", document) if isinstance(document, Mapping) else None
    attributes = response.get("Attribute") if isinstance(response, Mapping) else None
    if not isinstance(attributes, list):
        raise FeedFormatError('expected a MISP restSearch response: {"response": {"Attribute": [...]}}')
    collector = Collector()
    for attribute in attributes:
        event = attribute.get("Event") if isinstance(attribute, Mapping) else None
        context = _EventContext.of(event if isinstance(event, Mapping) else {}, defaults)
        _attribute(attribute, context, False, defaults, collector)
    return collector.result()


@dataclass(frozen=True)
class _EventContext:
    score: int
    tlp: Tlp | None
    tags: list[str]

    @classmethod
    def of(cls, event: Mapping[str, Any], defaults: FeedDefaults) -> _EventContext:
        tlp, tags = _tags(event.get("Tag"))
        level = _int(event.get("threat_level_id"))
        return cls(score=THREAT_LEVEL_SCORES.get(level or 0, defaults.score), tlp=tlp, tags=tags)


def _event_attributes(event: Mapping[str, Any]) -> Iterator[tuple[Any, bool]]:
    """Each attribute of the event and of its objects, with whether its object is deleted."""
    for attribute in event.get("Attribute") or []:
        yield attribute, False
    objects = event.get("Object")
    for item in objects if isinstance(objects, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("Attribute"), list):
            deleted = item.get("deleted") in _TRUE
            for attribute in item["Attribute"]:
                yield attribute, deleted


def _attribute(
    attribute: object, event: _EventContext, deleted_object: bool, defaults: FeedDefaults, collector: Collector
) -> None:
    if not isinstance(attribute, Mapping):
        collector.skip("invalid", "Attribute", "not a JSON object")
        return
    uuid = str(attribute.get("uuid", ""))[:200] or None
    where = uuid or f"attribute {str(attribute.get('value', ''))[:60]!r}"
    kinds = ATTRIBUTE_KINDS.get(str(attribute.get("type")))
    if kinds is None:
        collector.skip("unsupported type", where, f"attribute type {str(attribute.get('type'))[:40]!r}")
        return
    if attribute.get("to_ids", True) not in _TRUE:
        collector.skip("not for detection", where, "to_ids is false")
        return
    raw = attribute.get("value")
    if not isinstance(raw, str):
        collector.skip("invalid", where, "the value is not text")
        return
    try:
        first_seen = parse_time(attribute.get("first_seen"))
        last_seen = parse_time(attribute.get("last_seen")) or parse_time(attribute.get("timestamp"))
    except ValueError as error:
        collector.skip("invalid", where, str(error))
        return
    tlp, tags = _tags(attribute.get("Tag"))
    parts = raw.rsplit("|", 1) if "|" in str(attribute.get("type")) else [raw]
    for kind, part in kinds:
        if part >= len(parts):
            collector.skip("invalid", where, f"{attribute.get('type')} value without its '|' separator")
            continue
        try:
            kind_now, value = canonical(kind, parts[part])
        except ValueError as error:
            collector.skip("invalid value", where, str(error))
            continue
        collector.add(
            SourceVerdict(
                source=defaults.source,
                kind=kind_now,
                value=value,
                score=event.score,
                confidence=defaults.confidence,
                tlp=stricter_tlp(tlp, event.tlp) or defaults.tlp,
                tags=bounded_tags([*tags, *event.tags]),
                first_seen=first_seen,
                last_seen=last_seen,
                revoked=deleted_object or attribute.get("deleted") in _TRUE,
                reference=uuid,
            )
        )


def _tags(value: object) -> tuple[Tlp | None, list[str]]:
    """The TLP the `Tag` list sets, and the other tag names."""
    tlp: Tlp | None = None
    names: list[str] = []
    for tag in value if isinstance(value, list) else []:
        name = tag.get("name") if isinstance(tag, Mapping) else None
        if not isinstance(name, str):
            continue
        if name.strip().lower().startswith("tlp:"):
            tlp = stricter_tlp(tlp, tlp_named(name))
        else:
            names.append(name)
    return tlp, names


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None
