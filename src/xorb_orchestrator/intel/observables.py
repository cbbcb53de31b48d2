"""Which indicator an incident's observable is, for a lookup in the indicator store. Pure."""

from __future__ import annotations

from xorb_orchestrator.intel.values import canonical
from xorb_orchestrator.models.observable import Observable, ObservableType
from xorb_orchestrator.models.verdict import IndicatorKind

_HASH_KINDS = {32: IndicatorKind.MD5, 40: IndicatorKind.SHA1, 64: IndicatorKind.SHA256}
_BY_TYPE = {
    ObservableType.IP: IndicatorKind.IPV4,  # canonical() answers ipv6 for an IPv6 address
    ObservableType.DOMAIN: IndicatorKind.DOMAIN,
    ObservableType.HOSTNAME: IndicatorKind.DOMAIN,  # an external host name is looked up as the domain it is
    ObservableType.URL: IndicatorKind.URL,
}


def indicator_of(observable: Observable) -> tuple[IndicatorKind, str] | None:
    """(kind, canonical value) to look up, or None for what feeds do not list (ports, processes, plain user
    names, SHA-512) or a value that is not one of its kind."""
    kind = _BY_TYPE.get(observable.type)
    if observable.type is ObservableType.FILE_HASH:
        kind = _HASH_KINDS.get(len(observable.value))
    elif observable.type is ObservableType.USER and "@" in observable.value:
        kind = IndicatorKind.EMAIL  # a phishing sender, say
    if kind is None:
        return None
    try:
        return canonical(kind, observable.value)
    except ValueError:
        return None
