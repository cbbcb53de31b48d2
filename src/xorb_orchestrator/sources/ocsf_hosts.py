"""Whether a hostname in an OCSF finding is one of our hosts or a domain out there.

OCSF has one observable type for both (type_id 1, Hostname): the device a finding is about, the
command-and-control domain a sinkhole saw (`malware_hostname`), the name a DNS query asked for.
Typed as ours, a C2 domain would be an asset to isolate; typed as a domain, it is an indicator to look
up and block. The attribute's path and the finding's context decide, in this order:

1. a hostname of the finding's device (`device.hostname`, also in `evidences[]`): ours;
2. a path that names the far end (`malware`, `c2`, `cnc`, `domain`, `query`, `remote`, `url`): a domain;
3. an endpoint's hostname (`src_endpoint`, `dst_endpoint`, or a path saying source or destination):
   ours when that endpoint's IP is an internal address (RFC 1918, RFC 6598 shared, IPv6 unique local,
   loopback, link-local), a domain when it is any other; with no address, the destination's is a domain
   (what the finding points at) and the source's ours;
4. anything else: ours.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from xorb_orchestrator.models.observable import ObservableType as T
from xorb_orchestrator.sources.common import as_dict, as_int, as_list, text, value

EXTERNAL_WORDS = frozenset({"malware", "c2", "cnc", "domain", "query", "remote", "url"})
DESTINATION_WORDS = frozenset({"dst", "destination"})
SOURCE_WORDS = frozenset({"src", "source"})
ENDPOINTS = ("src_endpoint", "dst_endpoint")
IP_ADDRESS = 2  # observable type_id
INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
MAX_EVIDENCES = 100

_INDEX = re.compile(r"\[\d*\]")  # `evidences[0]`, `evidences[]`
_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class HostContext:
    """What a finding says about its hosts: the device's names, and each endpoint's IPs by path."""

    devices: frozenset[str]
    endpoint_ips: dict[str, list[str]]


def host_context(event: dict[str, Any]) -> HostContext:
    """The context host_kind decides in, read once per finding."""
    holders = [("", event)] + [("evidences", as_dict(e)) for e in as_list(event.get("evidences"))[:MAX_EVIDENCES]]
    devices = {(text(value(holder, "device.hostname")) or "").lower() for _, holder in holders}
    ips: dict[str, list[str]] = {}
    for base, holder in holders:
        for endpoint in ENDPOINTS:
            ips.setdefault(_join(base, endpoint), []).extend(_texts(value(holder, f"{endpoint}.ip")))
    for item in as_list(event.get("observables")):
        item = as_dict(item)
        path = _normal(str(item.get("name") or ""))
        if as_int(item.get("type_id")) == IP_ADDRESS and path.endswith(".ip"):
            ips.setdefault(path.removesuffix(".ip"), []).extend(_texts(item.get("value")))
    return HostContext(frozenset(devices - {""}), ips)


def host_kind(path: str, hostname: Any, context: HostContext) -> T:
    """HOSTNAME (one of ours) or DOMAIN (out there) for the hostname at `path`; see the module docstring."""
    if (text(hostname) or "").lower() in context.devices:
        return T.HOSTNAME
    normal = _normal(path)
    words = set(_WORD.split(normal))
    if words & EXTERNAL_WORDS:
        return T.DOMAIN
    is_destination = bool(words & DESTINATION_WORDS)
    if not (is_destination or words & SOURCE_WORDS):
        return T.HOSTNAME
    public = _public(context.endpoint_ips.get(normal.rpartition(".")[0], []))
    if public is None:
        return T.DOMAIN if is_destination else T.HOSTNAME
    return T.DOMAIN if public else T.HOSTNAME


def _public(ips: Iterable[str]) -> bool | None:
    """True if any of the addresses is not internal, False if all are, None without a usable one."""
    seen: bool | None = None
    for item in ips:
        try:
            address = ipaddress.ip_address(item)
        except ValueError:
            continue
        if not _internal(address):
            return True
        seen = False
    return seen


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Not `is_private`: Python counts the documentation ranges (192.0.2.0/24 ...) as private, and those
    # stand for public addresses wherever they are written.
    if address.is_loopback or address.is_link_local:
        return True
    return any(address.version == net.version and address in net for net in INTERNAL_NETWORKS)


def _normal(path: str) -> str:
    return _INDEX.sub("", path).lower()


def _join(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name


def _texts(item: Any) -> list[str]:
    return [t for t in (text(i) for i in as_list(item)) if t]
