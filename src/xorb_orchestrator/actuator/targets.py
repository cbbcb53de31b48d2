"""The targets an SLPF allow or deny takes (Language 1.0, 3.4.1.9-12): an address range, or a connection's 5-tuple.

Ranges are CIDR text ("192.0.2.0/24"; without a prefix, one address); host bits set after the prefix are cleared,
as every packet filter does ("192.0.2.7/24" is 192.0.2.0/24). Every wrong value is a 400 naming the field.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from xorb_orchestrator.actuator.answers import malformed, shown

L4_PROTOCOLS = ("icmp", "tcp", "udp", "sctp")
PORT_PROTOCOLS = ("tcp", "udp", "sctp")
CONNECTION_FIELDS = ("src_addr", "src_port", "dst_addr", "dst_port", "protocol")
NET_KINDS = {"ipv4_net": 4, "ipv6_net": 6}
CONNECTION_KINDS = {"ipv4_connection": 4, "ipv6_connection": 6}


@dataclass(frozen=True)
class NetTarget:
    """ipv4_net / ipv6_net: a range of addresses, matched as source or destination."""

    kind: str
    network: str  # canonical CIDR, always with its prefix

    @property
    def version(self) -> int:
        return NET_KINDS[self.kind]

    @property
    def single_address(self) -> bool:
        return ipaddress.ip_network(self.network).num_addresses == 1

    @property
    def text(self) -> str:
        """As a producer writes it: one address bare, a range with its prefix."""
        return self.network.split("/")[0] if self.single_address else self.network

    def to_json(self) -> dict[str, Any]:
        return {self.kind: self.text}


@dataclass(frozen=True)
class ConnectionTarget:
    """ipv4_connection / ipv6_connection: a 5-tuple; a field left out matches anything."""

    kind: str
    src_addr: str | None = None
    src_port: int | None = None
    dst_addr: str | None = None
    dst_port: int | None = None
    protocol: str | None = None

    @property
    def version(self) -> int:
        return CONNECTION_KINDS[self.kind]

    def to_json(self) -> dict[str, Any]:
        fields = {name: getattr(self, name) for name in CONNECTION_FIELDS}
        return {self.kind: {name: value for name, value in fields.items() if value is not None}}


def parse_net(kind: str, value: Any, where: str | None = None) -> NetTarget:
    """An ipv4_net or ipv6_net value (a CIDR string)."""
    where = where or f"target.{kind}"
    version = NET_KINDS.get(kind) or CONNECTION_KINDS[kind]
    if not isinstance(value, str):
        raise malformed(f"{where}: expected an IPv{version} address or range as a string, got {shown(value)}")
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        network = None
    if network is None or network.version != version:
        raise malformed(f"{where}: {value[:80]!r} is not an IPv{version} address or CIDR range")
    return NetTarget(kind if kind in NET_KINDS else f"ipv{version}_net", str(network))


def parse_connection(kind: str, value: Any) -> ConnectionTarget:
    """An ipv4_connection or ipv6_connection value: an object with at least one of the five fields."""
    where = f"target.{kind}"
    if not isinstance(value, dict) or not value:
        raise malformed(f"{where}: expected an object with at least one of {', '.join(CONNECTION_FIELDS)}")
    unknown = sorted(set(value) - set(CONNECTION_FIELDS))
    if unknown:
        raise malformed(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(CONNECTION_FIELDS)})")
    protocol = value.get("protocol")
    if protocol is not None and protocol not in L4_PROTOCOLS:
        raise malformed(f"{where}.protocol: expected one of {', '.join(L4_PROTOCOLS)}, got {shown(protocol)}")
    ports = {name: _port(f"{where}.{name}", value.get(name)) for name in ("src_port", "dst_port")}
    if protocol == "icmp" and any(port is not None for port in ports.values()):
        raise malformed(f"{where}: ports need protocol tcp, udp or sctp (or none), not icmp")
    src, dst = (
        parse_net(kind, value[name], f"{where}.{name}").network if value.get(name) is not None else None
        for name in ("src_addr", "dst_addr")
    )
    return ConnectionTarget(kind, src, ports["src_port"], dst, ports["dst_port"], protocol)


def _port(where: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise malformed(f"{where}: expected a port number 0-65535, got {shown(value)}")
    return value
