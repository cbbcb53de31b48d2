"""Threat-intelligence verdicts as data: what one source says about one indicator, and what all of them say together.

A source's verdict (`SourceVerdict`) is what a feed import keeps per indicator and source; the combined `Verdict`
is computed at lookup time (intel/verdicts.py), because freshness and decay depend on *when* one asks.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

MAX_TAGS = 20
MAX_TAG_CHARS = 100


class IndicatorKind(StrEnum):
    """The indicator types feeds carry. Networks (CIDR) are ipv4/ipv6 values with a prefix length."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DOMAIN = "domain"
    URL = "url"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    EMAIL = "email"


class Tlp(StrEnum):
    """Traffic Light Protocol 2.0 (CLEAR is 1.0's WHITE)."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"


class SourceVerdict(BaseModel):
    """What one source (a configured feed) says about one indicator.

    `score` is how bad (0 harmless … 100 certainly malicious) as the source rates it, before decay; `known_good`
    marks an entry of a known-good list (its score is 0). Times are UTC.
    """

    source: str = Field(max_length=100, description="the feed's name as configured")
    kind: IndicatorKind
    value: str = Field(max_length=2048, description="canonical value; a network as CIDR (203.0.113.0/24)")
    score: int = Field(ge=0, le=100)
    confidence: int = Field(50, ge=0, le=100)
    tlp: Tlp | None = None
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS, description="tags and malware families")
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    valid_from: datetime | None = Field(None, description="not to be used before this time (STIX valid_from)")
    valid_until: datetime | None = None
    revoked: bool = False
    known_good: bool = False
    reference: str | None = Field(None, max_length=200, description="the source's own id (STIX id, MISP uuid)")


class SourceFinding(BaseModel):
    """One source's verdict as seen at lookup time: live or not (and why), its age and its decayed score."""

    verdict: SourceVerdict
    matched: str = Field(description="the stored value that matched (a network for an address inside it)")
    live: bool
    why_not_live: str | None = Field(None, description="revoked, expired at …, known-good; null when live")
    expires_at: datetime | None = Field(None, description="valid_until, else last seen + the kind's lifetime")
    age_days: float | None = Field(None, description="days since last seen (else first seen)")
    score_now: int = Field(ge=0, le=100, description="the score after decay (= score without decay)")


class Verdict(BaseModel):
    """Every source's finding for one observable value, combined.

    `hit`: a live source says bad (score_now at or above the hit threshold) and no known-good list names it.
    `expires_at`: when the last live bad finding expires; a response based on this verdict must not outlive it.
    """

    kind: IndicatorKind
    value: str
    hit: bool = False
    known_good: bool = False
    score: int = Field(0, ge=0, le=100, description="the highest live decayed score")
    confidence: int = Field(0, ge=0, le=100, description="the confidence of the finding that gave `score`")
    expires_at: datetime | None = None
    sources: list[SourceFinding] = Field(default_factory=list, max_length=20, description="the strongest findings")
