"""STIX 2.1 indicators to SourceVerdicts: from a bundle, a TAXII 2.1 envelope, or a list of objects.

Each `indicator` whose pattern names values on its own (see stix_patterns.py) gives one verdict per value, with the
indicator's id as `reference`. Also read: `revoked` (kept, as revoked, so an update withdraws what an earlier one
said), `valid_from` and `valid_until` (kept: the lookup decides what is live when), `confidence` (absent: the feed's
default, 50 unless configured), `indicator_types` and `labels` as tags, `created` and `modified` as first and last
seen, TLP markings (the TLP 1.0 marking definitions of the STIX 2.1 specification, the TLP 2.0 ones of the OASIS
extension, and marking definitions in the same document), and the names of `malware` objects that the indicator
`indicates` (relationships in the same document) as tags, before the others.

Score:
- `x_score` or `x_opencti_score` (0-100), when present;
- else from `indicator_types` (STIX 2.0: `labels`): malicious-activity, attribution or compromised → 80 (high);
  anomalous-activity → 50 (medium); benign alone → 0 and known_good; none of these → the feed's default score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
from xorb_orchestrator.intel.stix_patterns import PatternError, pattern_values
from xorb_orchestrator.intel.times import parse_time
from xorb_orchestrator.intel.values import canonical
from xorb_orchestrator.models.verdict import SourceVerdict, Tlp

SCORE_HIGH = 80
SCORE_MEDIUM = 50
HIGH_TYPES = frozenset({"malicious-activity", "attribution", "compromised"})
MEDIUM_TYPES = frozenset({"anomalous-activity"})
BENIGN = "benign"
SCORE_PROPERTIES = ("x_score", "x_opencti_score")
MAX_ID_CHARS = 200  # SourceVerdict.reference

# The fixed marking definitions: TLP 1.0 from the STIX 2.1 specification (section 7.2.1.4), TLP 2.0 from the
# OASIS TLP 2.0 extension (extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d).
TLP_MARKINGS: dict[str, Tlp] = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": Tlp.CLEAR,
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": Tlp.GREEN,
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": Tlp.AMBER,
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": Tlp.RED,
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": Tlp.CLEAR,
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": Tlp.GREEN,
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": Tlp.AMBER,
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": Tlp.AMBER_STRICT,
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": Tlp.RED,
}


def stix_objects(document: object) -> list[Any]:
    """The objects of a bundle, of a TAXII 2.1 envelope, or the list itself; FeedFormatError for anything else."""
    if isinstance(document, list):
        return document
    if isinstance(document, Mapping):
        if document.get("type") == "indicator":
            return [document]
        # An empty TAXII page has no `objects`, only `more` (or nothing at all).
        if "objects" not in document and document.get("type") != "bundle" and set(document) - {"more", "next"}:
            raise FeedFormatError("expected a STIX bundle or a TAXII envelope: no `objects`")
        objects = document.get("objects") or []
        if isinstance(objects, list):
            return objects
        raise FeedFormatError("`objects` is not a list")
    raise FeedFormatError("expected a STIX bundle, a TAXII envelope or a list of STIX objects")


def parse_stix(document: object, *, defaults: FeedDefaults) -> ParsedFeed:
    """The verdicts of every usable indicator in `document` (rules in the module docstring)."""
    objects = stix_objects(document)
    context = _Context.of(objects)
    collector = Collector()
    for position, item in enumerate(objects):
        if not isinstance(item, Mapping):
            collector.skip("invalid", f"objects[{position}]", "not a JSON object")
        elif item.get("type") == "indicator":
            _indicator(item, position, context, defaults, collector)
    return collector.result()


@dataclass
class _Context:
    """What indicators refer to elsewhere in the document: marking definitions and malware families."""

    markings: dict[str, Tlp] = field(default_factory=lambda: dict(TLP_MARKINGS))
    families: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, objects: list[Any]) -> _Context:
        context = cls()
        names: dict[str, str] = {}
        indicates: list[tuple[str, str]] = []
        for item in objects:
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                continue
            kind = item.get("type")
            if kind == "marking-definition" and item["id"] not in TLP_MARKINGS:
                level = _marking_level(item)
                if level is not None:
                    context.markings[item["id"]] = level
            elif kind == "malware" and isinstance(item.get("name"), str):
                names[item["id"]] = item["name"]
            elif kind == "relationship" and item.get("relationship_type") == "indicates":
                source, target = item.get("source_ref"), item.get("target_ref")
                if isinstance(source, str) and isinstance(target, str):
                    indicates.append((source, target))
        for source, target in indicates:
            if target in names:
                context.families.setdefault(source, []).append(names[target])
        return context


def _indicator(
    item: Mapping[str, Any],
    position: int,
    context: _Context,
    defaults: FeedDefaults,
    collector: Collector,
) -> None:
    ident = item.get("id")
    if not isinstance(ident, str) or not ident.startswith("indicator--") or len(ident) > MAX_ID_CHARS:
        collector.skip("invalid", f"objects[{position}]", "an indicator needs an id indicator--<uuid>")
        return
    pattern_type = item.get("pattern_type", "stix")
    if pattern_type != "stix":
        collector.skip("unsupported pattern", ident, f"pattern_type {str(pattern_type)[:40]!r} is not stix")
        return
    pattern = item.get("pattern")
    if not isinstance(pattern, str):
        collector.skip("invalid", ident, "an indicator needs a pattern")
        return
    try:
        times = {name: parse_time(item.get(name)) for name in ("valid_from", "valid_until", "created", "modified")}
        confidence = _percent(item.get("confidence"), "confidence")
        score = _explicit_score(item)
    except ValueError as error:
        collector.skip("invalid", ident, str(error))
        return
    revoked = item.get("revoked") is True
    valid_from, valid_until = times["valid_from"], times["valid_until"]
    if valid_from and valid_until and valid_until <= valid_from:
        collector.skip("invalid", ident, "valid_until is not after valid_from")
        return
    try:
        comparisons = pattern_values(pattern)
    except PatternError as error:
        collector.skip("unsupported pattern", ident, str(error))
        return
    types = _texts(item.get("indicator_types")) + _texts(item.get("labels"))
    known_good = score is None and {t.lower() for t in types} == {BENIGN}
    if score is None:
        score = _score_of(types, defaults.score)
    tags = bounded_tags([*context.families.get(ident, []), *types])
    tlp = _tlp(item.get("object_marking_refs"), context) or defaults.tlp
    for comparison in comparisons:
        try:
            kind, value = canonical(comparison.kind, comparison.value)
        except ValueError as error:
            collector.skip("invalid value", ident, str(error))
            continue
        collector.add(
            SourceVerdict(
                source=defaults.source,
                kind=kind,
                value=value,
                score=score,
                confidence=defaults.confidence if confidence is None else confidence,
                tlp=tlp,
                tags=tags,
                first_seen=times["created"],
                last_seen=times["modified"] or times["created"],
                valid_from=valid_from,
                valid_until=valid_until,
                revoked=revoked,
                known_good=known_good,
                reference=ident,
            )
        )


def _explicit_score(item: Mapping[str, Any]) -> int | None:
    for name in SCORE_PROPERTIES:
        if item.get(name) is not None:
            return _percent(item[name], name)
    return None


def _score_of(types: list[str], default: int) -> int:
    lowered = {t.lower() for t in types}
    if lowered & HIGH_TYPES:
        return SCORE_HIGH
    if lowered & MEDIUM_TYPES:
        return SCORE_MEDIUM
    if lowered == {BENIGN}:
        return 0
    return default


def _percent(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise ValueError(f"{name} must be a number from 0 to 100, got {str(value)[:40]!r}")
    return round(value)


def _tlp(refs: object, context: _Context) -> Tlp | None:
    level: Tlp | None = None
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, str):
            level = stricter_tlp(level, context.markings.get(ref))
    return level


def _marking_level(item: Mapping[str, Any]) -> Tlp | None:
    """The TLP level a marking definition states: TLP 1.0 `definition`, TLP 2.0 extension, or its name."""
    definition = item.get("definition")
    if item.get("definition_type") == "tlp" and isinstance(definition, Mapping):
        return tlp_named(str(definition.get("tlp", "")))
    extensions = item.get("extensions")
    for extension in extensions.values() if isinstance(extensions, Mapping) else []:
        if isinstance(extension, Mapping) and isinstance(extension.get("tlp_2_0"), str):
            return tlp_named(extension["tlp_2_0"])
    name = item.get("name")
    if isinstance(name, str) and name.strip().upper().startswith("TLP:"):
        return tlp_named(name)
    return None


def _texts(value: object) -> list[str]:
    return [text for text in value if isinstance(text, str)] if isinstance(value, list) else []
