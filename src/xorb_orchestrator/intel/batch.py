"""What every feed format returns: the verdicts of one document, and what was skipped and why (bounded).

`Collector` gathers verdicts while a format walks its document. The same indicator listed twice in one document
(Feodo Tracker lists an address once per port, ThreatFox once per ip:port) becomes one verdict, so the store never
sees two rows for one (source, kind, value) that differ only by order:

- a live entry beats a revoked one (the document still lists it as bad);
- otherwise the higher score wins (then the higher confidence, then the later last_seen), and the two are
  combined: the earliest first_seen, the latest last_seen, the earlier valid_from and the later valid_until (none
  if either has none), the stricter TLP, and the tags of both (bounded).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from xorb_orchestrator.models.verdict import MAX_TAG_CHARS, MAX_TAGS, IndicatorKind, SourceVerdict, Tlp

DEFAULT_SCORE = 70  # a feed lists it as bad and says nothing more: likely malicious
DEFAULT_CONFIDENCE = 50  # STIX 2.1's "no confidence given" midpoint
MAX_REASONS = 20
MAX_REASON_CHARS = 200

TLP_ORDER = (Tlp.CLEAR, Tlp.GREEN, Tlp.AMBER, Tlp.AMBER_STRICT, Tlp.RED)
_TLP_BY_NAME = {tlp.value: tlp for tlp in Tlp} | {"white": Tlp.CLEAR}
_NEVER = datetime.min.replace(tzinfo=UTC)
_SPACES = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


class FeedFormatError(ValueError):
    """The document as a whole is not of the expected format (one entry that is not is skipped instead)."""


@dataclass(frozen=True)
class FeedDefaults:
    """What a feed's configuration supplies where a document is silent."""

    source: str
    score: int = DEFAULT_SCORE
    confidence: int = DEFAULT_CONFIDENCE
    tlp: Tlp | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """The verdicts read from one document, and the entries skipped.

    `skipped_by` counts skipped entries per reason category (a fixed, small set); `reasons` holds the first
    MAX_REASONS one-line reasons, each naming the entry ("line 12: ...", "indicator--...: ...").
    """

    verdicts: list[SourceVerdict]
    skipped: int = 0
    skipped_by: dict[str, int] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


class Collector:
    """Gathers one document's verdicts, merging duplicates, and counts what is skipped."""

    def __init__(self) -> None:
        self._verdicts: dict[tuple[IndicatorKind, str], SourceVerdict] = {}
        self._skipped: Counter[str] = Counter()
        self._reasons: list[str] = []

    def add(self, verdict: SourceVerdict) -> None:
        """Keep a verdict; a second one for the same kind and value is merged into the first."""
        key = (verdict.kind, verdict.value)
        known = self._verdicts.get(key)
        self._verdicts[key] = verdict if known is None else merge(known, verdict)

    def skip(self, category: str, where: str, detail: str, count: int = 1) -> None:
        """Count `count` skipped entries under `category` and keep the reason while there is room."""
        self._skipped[category] += count
        if len(self._reasons) < MAX_REASONS:
            line = _SPACES.sub(" ", f"{where}: {detail}").strip()
            self._reasons.append(line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 3] + "...")

    def result(self) -> ParsedFeed:
        """Everything collected, verdicts in the order first seen."""
        return ParsedFeed(
            verdicts=list(self._verdicts.values()),
            skipped=sum(self._skipped.values()),
            skipped_by=dict(self._skipped),
            reasons=list(self._reasons),
        )


def merge(first: SourceVerdict, second: SourceVerdict) -> SourceVerdict:
    """Two verdicts of one source for one indicator as one (rules in the module docstring)."""
    if first.revoked != second.revoked:
        return second if first.revoked else first
    base, other = (first, second) if _rank(first) >= _rank(second) else (second, first)
    unbounded = base.valid_until is None or other.valid_until is None
    always = base.valid_from is None or other.valid_from is None
    return base.model_copy(
        update={
            "first_seen": _earliest(base.first_seen, other.first_seen),
            "last_seen": _latest(base.last_seen, other.last_seen),
            "valid_from": None if always else _earliest(base.valid_from, other.valid_from),
            "valid_until": None if unbounded else _latest(base.valid_until, other.valid_until),
            "tlp": stricter_tlp(base.tlp, other.tlp),
            "tags": bounded_tags([*base.tags, *other.tags]),
        }
    )


def bounded_tags(tags: Iterable[object]) -> list[str]:
    """Tags as one-line text, each at most MAX_TAG_CHARS, without duplicates (ignoring case), at most MAX_TAGS."""
    kept: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        if not isinstance(tag, str):
            continue
        text, key = _tag(tag)
        if text and key not in seen:
            seen.add(key)
            kept.append(text)
            if len(kept) == MAX_TAGS:
                break
    return kept


@lru_cache(maxsize=4096)  # feeds repeat the same few tags on every line
def _tag(tag: str) -> tuple[str, str]:
    text = _SPACES.sub(" ", tag).strip()[:MAX_TAG_CHARS].strip()
    return text, text.casefold()


def tlp_named(name: str) -> Tlp | None:
    """The TLP level a marking names: "tlp:amber+strict", "TLP:WHITE", "red" ...; None when it names none."""
    text = name.strip().lower().removeprefix("tlp:").strip()
    return _TLP_BY_NAME.get(text)


def stricter_tlp(first: Tlp | None, second: Tlp | None) -> Tlp | None:
    """The more restrictive of two TLP levels (either may be unknown)."""
    if first is None or second is None:
        return first or second
    return max(first, second, key=TLP_ORDER.index)


def _rank(verdict: SourceVerdict) -> tuple[int, int, datetime]:
    return verdict.score, verdict.confidence, verdict.last_seen or verdict.first_seen or _NEVER


def _earliest(first: datetime | None, second: datetime | None) -> datetime | None:
    return min(first, second) if first and second else first or second


def _latest(first: datetime | None, second: datetime | None) -> datetime | None:
    return max(first, second) if first and second else first or second
