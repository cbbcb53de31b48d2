"""Known-good lists in the MISP warninglist format to SourceVerdicts (known_good, score 0).

`{"name", "version", "description", "matching_attributes", "type", "list": [...]}` by type:
- `cidr`: each entry an address or network.
- `hostname`: each entry a domain, meaning the domain and all its subdomains; recorded as the domain (a leading
  "." or "*." dropped). The lookup (verdicts.py) lets a known-good domain vouch for its subdomains.
- `string`: each entry an exact value of whatever kind it is (an address, a digest, a URL, an e-mail address or a
  domain), inferred from the value. Note that the lookup lets a known-good domain vouch for its subdomains
  whatever the list's type, so a `string` list of domains is read as broadly as a `hostname` one.
- `substring` and `regex`: refused as a whole (every entry counted as skipped, one reason): a substring or an
  expression is not a value the store can look up, and matching every lookup against every pattern would cost more
  than these lists are worth.

The list's name is the verdicts' first tag and their `reference`.
"""

from __future__ import annotations

from collections.abc import Mapping

from xorb_orchestrator.intel.batch import Collector, FeedDefaults, FeedFormatError, ParsedFeed, bounded_tags
from xorb_orchestrator.intel.values import canonical, guess
from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict

SUPPORTED_TYPES = ("string", "hostname", "cidr")
REFUSED_TYPES = ("substring", "regex")


def parse_warninglist(document: object, *, defaults: FeedDefaults) -> ParsedFeed:
    """The known-good verdicts of one MISP warninglist (rules in the module docstring)."""
    if not isinstance(document, Mapping) or not isinstance(document.get("list"), list):
        raise FeedFormatError('expected a MISP warninglist: {"name": ..., "type": ..., "list": [...]}')
    list_type = str(document.get("type", "string")).lower()
    name = str(document.get("name", "")).strip()
    collector = Collector()
    if list_type in REFUSED_TYPES:
        detail = f"{list_type} lists match patterns, not values"
        collector.skip("unsupported type", name or "warninglist", detail, count=len(document["list"]))
        return collector.result()
    if list_type not in SUPPORTED_TYPES:
        raise FeedFormatError(f"warninglist type {list_type[:40]!r} is not one of {', '.join(SUPPORTED_TYPES)}")
    tags = bounded_tags([name])
    for position, entry in enumerate(document["list"]):
        where = f"list[{position}]"
        if not isinstance(entry, str) or not entry.strip():
            collector.skip("invalid", where, "not a non-empty string")
            continue
        try:
            kind, value = _canonical(list_type, entry)
        except ValueError as error:
            collector.skip("invalid value", where, str(error))
            continue
        collector.add(
            SourceVerdict(
                source=defaults.source,
                kind=kind,
                value=value,
                score=0,
                confidence=defaults.confidence,
                tlp=defaults.tlp,
                tags=tags,
                known_good=True,
                reference=name[:200] or None,
            )
        )
    return collector.result()


def _canonical(list_type: str, entry: str) -> tuple[IndicatorKind, str]:
    if list_type == "cidr":
        return canonical(IndicatorKind.IPV4, entry)  # an IPv6 value gets its own kind
    if list_type == "hostname":
        return canonical(IndicatorKind.DOMAIN, entry.strip().removeprefix("*.").removeprefix("."))
    return guess(entry)
