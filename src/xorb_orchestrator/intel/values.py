"""Indicator values in canonical form, so a feed's value and an alert's observable compare equal.

Domains, e-mail addresses and hashes are lower-cased; addresses and networks go through `ipaddress` (a network in
compressed CIDR with its host bits cleared, a /32 or /128 as a plain address, an IPv4-mapped IPv6 address as IPv4);
URLs are kept as given but stripped, with scheme and host lower-cased (they ignore case, and the lookup in
verdicts.py spells them so). Each function raises ValueError with a short reason; the callers skip the entry.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit, urlunsplit

from xorb_orchestrator.models.verdict import IndicatorKind

MAX_VALUE_CHARS = 2048  # SourceVerdict.value
MAX_DOMAIN_CHARS = 253
MAX_EMAIL_CHARS = 254

_HASH_LENGTHS = {IndicatorKind.MD5: 32, IndicatorKind.SHA1: 40, IndicatorKind.SHA256: 64}
_KIND_BY_HASH_LENGTH = {length: kind for kind, length in _HASH_LENGTHS.items()}
_HEX = re.compile(r"^[0-9a-fA-F]+$")
# At least two labels: a single label is a TLD or an intranet name, never something a feed should make us act on.
# The last label holds a letter, so "192.0.2.1" is never taken for a domain.
_DOMAIN = re.compile(
    r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+(?=[a-z0-9-]*[a-z])[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)
# An IPv4 address exactly as ipaddress writes it (no leading zeros), the bulk of every blocklist.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_IP_KINDS = (IndicatorKind.IPV4, IndicatorKind.IPV6)


def canonical(kind: IndicatorKind, raw: str) -> tuple[IndicatorKind, str]:
    """The canonical value of `raw` as `kind`. An address or network returns the kind of its actual IP version."""
    value = raw.strip()
    if not value:
        raise ValueError("empty value")
    if len(value) > MAX_VALUE_CHARS:
        raise ValueError(f"value longer than {MAX_VALUE_CHARS} characters")
    if kind in _IP_KINDS:
        return ip_value(value)
    if kind in _HASH_LENGTHS:
        return kind, hash_value(kind, value)
    if kind is IndicatorKind.DOMAIN:
        return kind, domain_value(value)
    if kind is IndicatorKind.URL:
        return kind, url_value(value)
    return kind, email_value(value)


def ip_value(value: str) -> tuple[IndicatorKind, str]:
    """An address or network (CIDR, host bits cleared); a single address without its prefix length."""
    if _DOTTED_QUAD.fullmatch(value):
        return IndicatorKind.IPV4, value  # already canonical; ipaddress would take several times longer to agree
    if "%" in value:
        raise ValueError(f"{_short(value)} carries a zone index, not a network address")
    try:
        # A plain address is the common case and parses several times faster than a network.
        network = None if "/" not in value else ipaddress.ip_network(value, strict=False)
        address = ipaddress.ip_address(value) if network is None else network.network_address
    except ValueError:
        raise ValueError(f"{_short(value)} is not an IP address or network") from None
    if network is not None and network.prefixlen < network.max_prefixlen:
        return _ip_kind(network.version), network.compressed
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return IndicatorKind.IPV4, str(address.ipv4_mapped)
    return _ip_kind(address.version), str(address)


def hash_value(kind: IndicatorKind, value: str) -> str:
    """A hex digest of the kind's length, lower-cased."""
    length = _HASH_LENGTHS[kind]
    if len(value) != length or not _HEX.match(value):
        raise ValueError(f"{_short(value)} is not a {kind.value} digest ({length} hex digits)")
    return value.lower()


def domain_value(value: str) -> str:
    """A DNS name of two labels or more, lower-cased, without a trailing dot; international names as punycode."""
    name = value.rstrip(".").lower()
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{_short(value)} is not a valid international domain name") from None
    if len(name) > MAX_DOMAIN_CHARS or not _DOMAIN.match(name):
        raise ValueError(f"{_short(value)} is not a domain name")
    return name


def url_value(value: str) -> str:
    """An absolute URL as given, scheme and host lower-cased (user info, path and query keep their case)."""
    if _SPACE_OR_CONTROL.search(value):
        raise ValueError(f"{_short(value)} contains spaces or control characters")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise ValueError(f"{_short(value)} is not a URL") from None
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"{_short(value)} is not an absolute URL")
    userinfo, at, host = parts.netloc.rpartition("@")
    # urlunsplit also drops an empty "?" or "#"; most URLs need none of it, and a 100k-line feed notices the cost.
    if parts.scheme.islower() and host == host.lower() and value[-1] not in "?#" and "?#" not in value:
        return value
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=f"{userinfo}{at}{host.lower()}"))


def email_value(value: str) -> str:
    """An e-mail address, lower-cased (mail systems and feeds compare addresses without case)."""
    local, at, domain = value.rpartition("@")
    if not at or not local or _SPACE_OR_CONTROL.search(local) or len(value) > MAX_EMAIL_CHARS:
        raise ValueError(f"{_short(value)} is not an e-mail address")
    try:
        return f"{local.lower()}@{domain_value(domain)}"
    except ValueError:
        raise ValueError(f"{_short(value)} is not an e-mail address") from None


def guess(raw: str) -> tuple[IndicatorKind, str]:
    """The kind and canonical value of a value of no declared kind (plain lists): a URL has "://", a digest is hex
    of a digest's length, an e-mail address has "@", then an address or network, then a domain."""
    text = raw.strip()
    if "://" in text:
        return canonical(IndicatorKind.URL, text)
    if len(text) in _KIND_BY_HASH_LENGTH and _HEX.match(text):
        return canonical(_KIND_BY_HASH_LENGTH[len(text)], text)
    if "@" in text:
        return canonical(IndicatorKind.EMAIL, text)
    try:
        return canonical(IndicatorKind.IPV4, text)
    except ValueError:
        pass
    try:
        return canonical(IndicatorKind.DOMAIN, text)
    except ValueError:
        raise ValueError(f"cannot tell what kind of indicator {_short(text)} is") from None


def _ip_kind(version: int) -> IndicatorKind:
    return IndicatorKind.IPV4 if version == 4 else IndicatorKind.IPV6


def _short(value: str) -> str:
    """A value quoted for a one-line reason: bounded, control characters escaped by repr."""
    return repr(value if len(value) <= 80 else value[:77] + "...")
