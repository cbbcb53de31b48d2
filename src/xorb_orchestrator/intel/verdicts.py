"""What every source says about one value, combined at the time of asking; and re-imports merged. Pure.

Rules a SOC relies on:
- A known-good list that names a value (or, for a domain, one of its parent domains) overrides every bad finding:
  the verdict is no hit, and each overridden finding says which list vouched for it.
- A bad domain does not cover its subdomains (`evil.example` says nothing about `cdn.evil.example` served by
  someone else); a known-good domain does (`example.com` vouches for `www.example.com`, like MISP's hostname
  warninglists). A bad network covers every address inside it.
- A re-import never makes an indicator younger than its source says, and never takes the import time for a sighting.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from xorb_orchestrator.intel.decay import Decay, Lifetimes, age_days, bad_until, expires_at, score_now
from xorb_orchestrator.models.verdict import (
    MAX_TAG_CHARS,
    MAX_TAGS,
    IndicatorKind,
    SourceFinding,
    SourceVerdict,
    Verdict,
)

DEFAULT_HIT_THRESHOLD = 50
MAX_FINDINGS = 20  # findings kept in one Verdict (models/verdict.py bounds the list)
MAX_VALUE_CHARS = 2048
_MAX_DOMAIN_CHARS = 253
_HASH_LENGTHS = {IndicatorKind.MD5: 32, IndicatorKind.SHA1: 40, IndicatorKind.SHA256: 64}
_HEX = frozenset("0123456789abcdef")
_IP_VERSIONS = {IndicatorKind.IPV4: 4, IndicatorKind.IPV6: 6}


def canonical_value(kind: IndicatorKind, value: str) -> str:
    """The one spelling stored and looked up, so that a feed's and a detector's spellings meet.

    Addresses in compressed form, a network as CIDR (host bits cleared; a /32 or /128 is the plain address);
    domains lower case without the trailing dot, IDNs in punycode; hashes lower-case hex; emails lower case; URLs
    with scheme and host lower case. Raises ValueError for a value that is not one of its kind.
    """
    text = value.strip()
    if not text or len(text) > MAX_VALUE_CHARS:
        raise ValueError(f"a {kind} value must have 1 to {MAX_VALUE_CHARS} characters")
    if kind in _IP_VERSIONS:
        return _canonical_network(kind, text)
    if kind in _HASH_LENGTHS:
        text = text.lower()
        if len(text) != _HASH_LENGTHS[kind] or not set(text) <= _HEX:
            raise ValueError(f"{value!r} is not an {kind} hash ({_HASH_LENGTHS[kind]} hex digits)")
        return text
    if kind is IndicatorKind.DOMAIN:
        return _canonical_domain(text)
    if kind is IndicatorKind.EMAIL:
        local, at, domain = text.rpartition("@")
        if not (local and at and domain) or any(c.isspace() for c in text):
            raise ValueError(f"{value!r} is not an email address")
        return f"{local.lower()}@{_canonical_domain(domain)}"
    return _canonical_url(text)


def _canonical_network(kind: IndicatorKind, text: str) -> str:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an {kind} address or network") from None
    if network.version != _IP_VERSIONS[kind]:
        raise ValueError(f"{text!r} is not an {kind} address or network")
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def _canonical_domain(text: str) -> str:
    name = text.rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{text!r} is not a domain name") from None
    labels = name.split(".")
    if len(name) > _MAX_DOMAIN_CHARS or not all(labels) or any(c.isspace() or c in "/@:" for c in name):
        raise ValueError(f"{text!r} is not a domain name")
    return name


def _canonical_url(text: str) -> str:
    if any(c.isspace() for c in text):
        raise ValueError(f"{text!r} is not a URL")
    parts = urlsplit(text)
    if not parts.scheme or not parts.netloc:
        return text  # not absolute: stored and looked up as given
    userinfo, at, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=f"{userinfo}{at}{host.lower()}"))


def parent_domains(domain: str) -> list[str]:
    """The parent domains of a canonical domain, nearest first: a.b.example.com → b.example.com, example.com, com."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels))]


def merge(old: SourceVerdict | None, new: SourceVerdict) -> SourceVerdict:
    """The stored verdict after `new` (a re-import by the same source of the same value) meets `old`.

    The earliest first seen and the latest last seen the source has given are kept, so a re-import never makes an
    indicator younger than its source says (and an import time never stands in for a sighting); `valid_from`,
    `valid_until`, score and the rest are as the source says now. Revocation is the source's: it stays only when
    the source revoked that very object (same reference; STIX revocation is final, and an older version replayed
    later must not revive it). Tags are the new ones first, then the old ones, bounded.
    """
    if old is None:
        return new.model_copy(update={"tags": _bounded_tags(new.tags, [])})
    if (old.source, old.kind, old.value) != (new.source, new.kind, new.value):
        raise ValueError("merge takes two verdicts of the same source about the same value")
    revoked = new.revoked or (old.revoked and old.reference is not None and old.reference == new.reference)
    return new.model_copy(
        update={
            "first_seen": _earliest(old.first_seen, new.first_seen),
            "last_seen": _latest(old.last_seen, new.last_seen),
            "revoked": revoked,
            "tags": _bounded_tags(new.tags, old.tags),
        }
    )


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _bounded_tags(first: Sequence[str], then: Sequence[str]) -> list[str]:
    tags = dict.fromkeys(tag[:MAX_TAG_CHARS] for tag in [*first, *then] if tag)
    return list(tags)[:MAX_TAGS]


def combine(
    kind: IndicatorKind,
    value: str,
    matches: Sequence[tuple[str, SourceVerdict]],
    now: datetime,
    *,
    lifetimes: Lifetimes | None = None,
    decay: Decay | None = None,
    hit_threshold: int = DEFAULT_HIT_THRESHOLD,
) -> Verdict:
    """Every source's finding for `value` as of `now`, and the verdict they make together.

    `matches` are (stored value that matched, the source's verdict): the value itself, a network containing it,
    a parent domain. A finding is live unless revoked, not yet valid, expired, or overridden by a live known-good
    entry. `hit`: a live finding scores (after decay) at least `hit_threshold` and no known-good list names the
    value. `expires_at`: the latest time a hit-making finding stays at or above the threshold (expiry, or
    earlier by decay); None when one of them gives no end.
    """
    if not 1 <= hit_threshold <= 100:
        raise ValueError(f"the hit threshold must be 1 to 100, not {hit_threshold}")
    findings = [
        _finding(verdict, matched, now, lifetimes=lifetimes, decay=decay)
        for matched, verdict in matches
        if _applies(kind, value, matched, verdict)
    ]
    vouchers = [f for f in findings if f.live and f.verdict.known_good]
    if vouchers:
        voucher = min(vouchers, key=lambda f: (f.verdict.source, f.matched))
        reason = f"known-good: {voucher.verdict.source} lists {voucher.matched}"
        findings = [
            f.model_copy(update={"live": False, "why_not_live": reason}) if f.live and not f.verdict.known_good else f
            for f in findings
        ]
    findings.sort(key=lambda f: (not f.live, -f.score_now, f.verdict.source, f.matched))
    bad = [f for f in findings if f.live and not f.verdict.known_good]
    best = max(bad, key=lambda f: (f.score_now, f.verdict.confidence), default=None)
    hitting = [f for f in bad if f.score_now >= hit_threshold]
    return Verdict(
        kind=kind,
        value=value,
        hit=bool(hitting),
        known_good=bool(vouchers),
        score=best.score_now if best else 0,
        confidence=best.verdict.confidence if best else 0,
        expires_at=_latest_end(hitting, hit_threshold, lifetimes, decay),
        # Known-good and live ones first (the sort above): a verdict travels in history, so it keeps at most
        # MAX_FINDINGS of them; `hit`, `score` and `expires_at` were computed from all.
        sources=sorted(findings, key=lambda f: not f.verdict.known_good)[:MAX_FINDINGS],
    )


def _applies(kind: IndicatorKind, value: str, matched: str, verdict: SourceVerdict) -> bool:
    # A stored parent domain speaks for its subdomains only when it vouches for them.
    return kind is not IndicatorKind.DOMAIN or matched == value or verdict.known_good


def _finding(
    verdict: SourceVerdict, matched: str, now: datetime, *, lifetimes: Lifetimes | None, decay: Decay | None
) -> SourceFinding:
    expiry = expires_at(verdict, lifetimes)
    why: str | None = None
    if verdict.revoked:
        why = "revoked"
    elif verdict.valid_from is not None and now < verdict.valid_from:
        why = f"not yet valid (from {verdict.valid_from.isoformat()})"
    elif expiry is not None and now >= expiry:
        why = f"expired at {expiry.isoformat()}"
    return SourceFinding(
        verdict=verdict,
        matched=matched,
        live=why is None,
        why_not_live=why,
        expires_at=expiry,
        age_days=age_days(verdict, now),
        score_now=0 if verdict.known_good else score_now(verdict, now, lifetimes=lifetimes, decay=decay),
    )


def _latest_end(
    hitting: Sequence[SourceFinding], threshold: int, lifetimes: Lifetimes | None, decay: Decay | None
) -> datetime | None:
    ends = [bad_until(f.verdict, threshold, lifetimes=lifetimes, decay=decay) for f in hitting]
    if not ends or any(end is None for end in ends):
        return None
    return max(end for end in ends if end is not None)
