"""How long an indicator stays true, and how its score fades meanwhile. Pure: the time one asks at is a parameter.

Lifetimes are per indicator kind: addresses change hands within weeks, file hashes stay what they are. An entry
expires at the source's `valid_until` when it gives one, else at last seen (else first seen) plus its kind's lifetime.

Decay is MISP's polynomial model (MISP `DecayingModelsFormulas/Polynomial`, from "An indicator scoring method for
MISP platforms"): score(t) = base * (1 - (t/τ)^(1/δ)), t the time since last seen, τ the lifetime, δ the decay
speed. MISP floors the result at 0, so from t ≥ τ on the score is 0. Where MISP scores a timestamp in the future
as 0, we take its age as 0 instead: a feed's clock a little ahead must not silence a fresh indicator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict

# A kind missing from an override keeps its default lifetime.
Lifetimes = Mapping[IndicatorKind, timedelta]

DEFAULT_LIFETIMES: Lifetimes = MappingProxyType(
    {
        IndicatorKind.IPV4: timedelta(days=30),
        IndicatorKind.IPV6: timedelta(days=30),
        IndicatorKind.DOMAIN: timedelta(days=90),
        IndicatorKind.URL: timedelta(days=60),
        IndicatorKind.MD5: timedelta(days=365),
        IndicatorKind.SHA1: timedelta(days=365),
        IndicatorKind.SHA256: timedelta(days=365),
        IndicatorKind.EMAIL: timedelta(days=90),
    }
)

_DAY = timedelta(days=1)
# Floating point leaves 30 * (1 - 0.9) at 2.9999999999999996; this much slack keeps it at 3 when rounding down.
_EPSILON = 1e-9


@dataclass(frozen=True)
class Decay:
    """MISP's polynomial decay, switched on. `speed` is δ: 1 fades linearly, above 1 fast at first, below 1 late."""

    speed: float

    def __post_init__(self) -> None:
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ValueError(f"the decay speed must be a positive number, not {self.speed}")


def lifetime_of(kind: IndicatorKind, lifetimes: Lifetimes | None = None) -> timedelta:
    """The kind's lifetime: the override's when it names the kind, else the default."""
    if lifetimes is not None and kind in lifetimes:
        return lifetimes[kind]
    return DEFAULT_LIFETIMES[kind]


def seen_at(verdict: SourceVerdict) -> datetime | None:
    """When the source last saw the indicator (else first saw it); None when it gives no date."""
    return verdict.last_seen or verdict.first_seen


def expires_at(verdict: SourceVerdict, lifetimes: Lifetimes | None = None) -> datetime | None:
    """The source's `valid_until`, else seen + the kind's lifetime; None when the source gives no date at all.

    A known-good entry has no lifetime (lifetimes model how fast *bad* indicators go stale): it holds until its
    list drops it or its own `valid_until`.
    """
    if verdict.valid_until is not None:
        return verdict.valid_until
    seen = seen_at(verdict)
    if seen is None or verdict.known_good:
        return None
    return seen + lifetime_of(verdict.kind, lifetimes)


def with_feed_lifetimes(verdict: SourceVerdict, lifetimes: Lifetimes) -> SourceVerdict:
    """A feed's own lifetimes (its `lifetimes:` in the feeds file), written into the verdict as it is imported:
    where the source gives no `valid_until`, the entry ends at seen + the feed's lifetime for its kind. Lookups
    apply the file-wide lifetimes; this is how one feed's differ."""
    if verdict.valid_until is not None or verdict.known_good or verdict.kind not in lifetimes:
        return verdict
    seen = seen_at(verdict)
    if seen is None:
        return verdict
    return verdict.model_copy(update={"valid_until": seen + lifetimes[verdict.kind]})


def age(verdict: SourceVerdict, now: datetime) -> timedelta | None:
    """Time since last (else first) seen, never negative; None without dates."""
    seen = seen_at(verdict)
    if seen is None:
        return None
    return max(now - seen, timedelta(0))


def age_days(verdict: SourceVerdict, now: datetime) -> float | None:
    """`age` in days."""
    elapsed = age(verdict, now)
    return None if elapsed is None else elapsed / _DAY


def decayed_score(score: int, elapsed: timedelta, lifetime: timedelta, decay: Decay) -> int:
    """MISP's polynomial: score * (1 - (t/τ)^(1/δ)), 0 from t ≥ τ, rounded down (decay never rounds into a hit)."""
    if elapsed <= timedelta(0):
        return score
    if lifetime <= timedelta(0) or elapsed >= lifetime:
        return 0
    value = score * (1 - (elapsed / lifetime) ** (1 / decay.speed))
    return max(0, min(score, math.floor(value + _EPSILON)))


def score_now(
    verdict: SourceVerdict, now: datetime, *, lifetimes: Lifetimes | None = None, decay: Decay | None = None
) -> int:
    """The source's score as of `now`: unchanged without decay or without dates, else decayed with age."""
    elapsed = age(verdict, now)
    if decay is None or elapsed is None:
        return verdict.score
    return decayed_score(verdict.score, elapsed, lifetime_of(verdict.kind, lifetimes), decay)


def bad_until(
    verdict: SourceVerdict, threshold: int, *, lifetimes: Lifetimes | None = None, decay: Decay | None = None
) -> datetime | None:
    """Until when this verdict scores at least `threshold`: its expiry, or earlier when decay takes it below.

    Solving base * (1 - (t/τ)^(1/δ)) ≥ threshold for t gives t ≤ τ * (1 - threshold/base)^δ. None: no end known
    (no dates and no `valid_until`).
    """
    end = expires_at(verdict, lifetimes)
    seen = seen_at(verdict)
    if decay is None or seen is None:
        return end
    if verdict.score <= 0 or threshold > verdict.score:
        return seen
    fraction = (1 - max(threshold, 0) / verdict.score) ** decay.speed
    decayed_end = seen + lifetime_of(verdict.kind, lifetimes) * fraction
    return decayed_end if end is None else min(end, decayed_end)
