"""STIX 2.1 indicator patterns to indicator values, through the OASIS parser (`stix2patterns`).

A pattern becomes indicators only where each comparison alone is enough to match: `=` comparisons joined by OR, in
one observation or in several joined by OR. Also exact and therefore kept: `IN ('a', 'b')` (an OR of equalities)
and `ipv4-addr:value ISSUBSET '198.51.100.0/24'` (the network). Anything that needs several facts at once (AND,
FOLLOWEDBY, qualifiers such as WITHIN or REPEATS) refuses the whole pattern. Inside an OR, a comparison we cannot
turn into a value (another operator, another object path, a hash we have no kind for) is dropped, since the others
still match on their own; a pattern left with none is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stix2patterns.exceptions import ParseException
from stix2patterns.v21.grammars.STIXPatternListener import STIXPatternListener
from stix2patterns.v21.pattern import Pattern

from xorb_orchestrator.models.verdict import IndicatorKind

MAX_PATTERN_CHARS = 20_000  # a pattern of hundreds of ORed values; more is not an indicator but a list

_VALUE_KINDS = {
    "ipv4-addr": IndicatorKind.IPV4,
    "ipv6-addr": IndicatorKind.IPV6,
    "domain-name": IndicatorKind.DOMAIN,
    "url": IndicatorKind.URL,
    "email-addr": IndicatorKind.EMAIL,
}
# file:hashes keys as producers write them ('SHA-256', SHA256, 'sha-256' ...), compared without case, '-' or '_'.
_HASH_KINDS = {"MD5": IndicatorKind.MD5, "SHA1": IndicatorKind.SHA1, "SHA256": IndicatorKind.SHA256}
_IP_KINDS = (IndicatorKind.IPV4, IndicatorKind.IPV6)


class PatternError(ValueError):
    """The pattern cannot become indicators; the message says why in a few words."""


@dataclass(frozen=True)
class Comparison:
    """One value a pattern matches on its own, not yet canonical."""

    kind: IndicatorKind
    value: str


def pattern_values(pattern: str) -> list[Comparison]:
    """The values `pattern` matches on its own (rules in the module docstring); PatternError when none."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"pattern longer than {MAX_PATTERN_CHARS} characters")
    try:
        parsed = Pattern(pattern)
    except ParseException as error:
        raise PatternError(f"not a valid STIX pattern ({error})") from None
    reader = _Reader()
    parsed.walk(reader)
    if reader.refusal:
        raise PatternError(reader.refusal)
    if not reader.found:
        raise PatternError(reader.dropped or "no comparison to take a value from")
    return reader.found


class _Reader(STIXPatternListener):
    """Walks the parse tree: the object path is complete when a comparison's exit event fires."""

    def __init__(self) -> None:
        self.found: list[Comparison] = []
        self.refusal: str | None = None  # the whole pattern is out
        self.dropped: str | None = None  # the first comparison left out of an OR
        self._object = ""
        self._path: list[str] = []

    def _refuse(self, why: str) -> None:
        self.refusal = self.refusal or why

    def _drop(self, why: str) -> None:
        self.dropped = self.dropped or why

    def exitObservationExpressions(self, ctx: Any) -> None:
        if ctx.FOLLOWEDBY():
            self._refuse("FOLLOWEDBY needs a sequence of observations, not one value")

    def exitObservationExpressionAnd(self, ctx: Any) -> None:
        if ctx.AND():
            self._refuse("observations joined by AND need several facts at once")

    def exitComparisonExpressionAnd(self, ctx: Any) -> None:
        if ctx.AND():
            self._refuse("comparisons joined by AND need several facts at once")

    def exitObservationExpressionRepeated(self, ctx: Any) -> None:
        self._refuse("a REPEATS qualifier describes behaviour, not one value")

    def exitObservationExpressionWithin(self, ctx: Any) -> None:
        self._refuse("a WITHIN qualifier describes behaviour, not one value")

    def exitObservationExpressionStartStop(self, ctx: Any) -> None:
        self._refuse("a START/STOP qualifier limits the match to a time window")

    def exitObjectType(self, ctx: Any) -> None:
        self._object = ctx.getText()

    def exitFirstPathComponent(self, ctx: Any) -> None:
        literal = ctx.StringLiteral()
        self._path = [_unquote(literal.getText()) if literal else ctx.getText()]

    def exitKeyPathStep(self, ctx: Any) -> None:
        literal = ctx.StringLiteral()
        self._path.append(_unquote(literal.getText()) if literal else ctx.IdentifierWithoutHyphen().getText())

    def exitIndexPathStep(self, ctx: Any) -> None:
        self._path.append("[]")

    def exitPropTestEqual(self, ctx: Any) -> None:
        if ctx.NOT() or not ctx.EQ():
            operator = ("NOT " if ctx.NOT() else "") + (ctx.EQ() or ctx.NEQ()).getText()
            self._drop(f"operator {operator} is not an equality")
            return
        self._keep(_string(ctx.primitiveLiteral()))

    def exitPropTestSet(self, ctx: Any) -> None:
        if ctx.NOT():
            self._drop("NOT IN is not an equality")
            return
        for literal in ctx.setLiteral().primitiveLiteral():
            self._keep(_string(literal))

    def exitPropTestIsSubset(self, ctx: Any) -> None:
        kind = self._kind()
        if ctx.NOT() or kind not in _IP_KINDS:
            self._drop("ISSUBSET is kept only for an address inside a network")
            return
        self._keep(_unquote(ctx.StringLiteral().getText()))

    def exitPropTestOrder(self, ctx: Any) -> None:
        operator = (ctx.GT() or ctx.LT() or ctx.GE() or ctx.LE()).getText()
        self._drop(f"operator {operator} is not an equality")

    def exitPropTestLike(self, ctx: Any) -> None:
        self._drop("operator LIKE is not an equality")

    def exitPropTestRegex(self, ctx: Any) -> None:
        self._drop("operator MATCHES is not an equality")

    def exitPropTestIsSuperset(self, ctx: Any) -> None:
        self._drop("operator ISSUPERSET is not an equality")

    def exitPropTestExists(self, ctx: Any) -> None:
        self._drop("operator EXISTS is not an equality")

    def _keep(self, value: str | None) -> None:
        kind = self._kind()
        if kind is None:
            self._drop(f"{self._object}:{'.'.join(self._path)} is not an indicator value we use")
        elif value is None:
            self._drop(f"{self._object}:{'.'.join(self._path)} is compared with something other than a string")
        else:
            self.found.append(Comparison(kind, value))

    def _kind(self) -> IndicatorKind | None:
        if self._path == ["value"]:
            return _VALUE_KINDS.get(self._object)
        if self._object == "file" and len(self._path) == 2 and self._path[0] == "hashes":
            return _HASH_KINDS.get(self._path[1].upper().replace("-", "").replace("_", ""))
        return None


def _string(primitive: Any) -> str | None:
    """The text of a string literal; None for numbers, booleans, binary, hex and timestamps."""
    orderable = primitive.orderableLiteral()
    literal = orderable.StringLiteral() if orderable else None
    return _unquote(literal.getText()) if literal else None


def _unquote(token: str) -> str:
    """A STIX string literal's content: quotes removed, \\' and \\\\ unescaped."""
    return token[1:-1].replace("\\'", "'").replace("\\\\", "\\")
