"""Which side of a connection is the server, so that only the server's port becomes an observable.

EVE's `src_*` / `dest_*` are the packet's: an alert raised on the server's answer (a response, a
download, a DNP3 reply) has the server on the source side. Newer Suricata says so in `direction`;
older EVE, Suricata-verify and Beats samples do not, and taking `dest_port` there makes the client's
ephemeral port (47592, 59602) the "server" port. The side is read from what the event tells, most
reliable first:

1. `direction`: `to_client` → the source side, `to_server` → the destination side.
2. The flow (`flow.src_ip` / `flow.src_port`, newer Suricata): its source is the client that opened it.
3. The app-layer protocol (`app_proto`, or the app-layer record the alert carries): its well-known ports.
4. The port numbers: a well-known port (below 1024) against one that is not; else a port below the
   ephemeral range against one in it (32768 and above: Linux's range starts there, Windows' and IANA's
   at 49152).
5. Otherwise the destination side: most alerts are raised on a request.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from xorb_orchestrator.sources.common import as_dict, as_int, text

Side = Literal["src", "dest"]
WELL_KNOWN_BELOW = 1024
EPHEMERAL_FROM = 32768

# Server ports of the app-layer protocols Suricata names (`app_proto` and the alert's record key).
APP_PORTS: dict[str, frozenset[int]] = {
    "http": frozenset({80, 8000, 8008, 8080, 8888, 3128}),
    "http2": frozenset({80, 443}),
    "tls": frozenset({443, 8443, 465, 636, 853, 993, 995}),
    "quic": frozenset({443}),
    "dns": frozenset({53}),
    "ssh": frozenset({22}),
    "telnet": frozenset({23}),
    "ftp": frozenset({21}),
    "tftp": frozenset({69}),
    "smtp": frozenset({25, 465, 587}),
    "imap": frozenset({143, 993}),
    "pop3": frozenset({110, 995}),
    "smb": frozenset({139, 445}),
    "dcerpc": frozenset({135}),
    "nfs": frozenset({2049}),
    "ldap": frozenset({389, 636, 3268}),
    "krb5": frozenset({88}),
    "ntp": frozenset({123}),
    "dhcp": frozenset({67}),
    "snmp": frozenset({161, 162}),
    "sip": frozenset({5060, 5061}),
    "ike": frozenset({500, 4500}),
    "rdp": frozenset({3389}),
    "rfb": frozenset({5900}),
    "pgsql": frozenset({5432}),
    "mqtt": frozenset({1883, 8883}),
    "modbus": frozenset({502}),
    "dnp3": frozenset({20000}),
    "enip": frozenset({44818, 2222}),
}


def server_side(eve: dict[str, Any]) -> Side:
    """`src` when the event's source side is the server, else `dest`; see the module docstring for how."""
    for decide in (_by_direction, _by_flow, _by_app_protocol, _by_port_numbers):
        side = decide(eve)
        if side is not None:
            return side
    return "dest"


def _by_direction(eve: dict[str, Any]) -> Side | None:
    direction = eve.get("direction")
    if direction == "to_client":
        return "src"
    if direction == "to_server":
        return "dest"
    return None


def _by_flow(eve: dict[str, Any]) -> Side | None:
    flow = as_dict(eve.get("flow"))
    client = _endpoint(flow.get("src_ip"), flow.get("src_port"))
    server = _endpoint(flow.get("dest_ip"), flow.get("dest_port"))
    src = _endpoint(eve.get("src_ip"), eve.get("src_port"))
    dest = _endpoint(eve.get("dest_ip"), eve.get("dest_port"))
    if _only(client, src, dest) or _only(server, dest, src):
        return "dest"
    if _only(client, dest, src) or _only(server, src, dest):
        return "src"
    return None


def _by_app_protocol(eve: dict[str, Any]) -> Side | None:
    name = (text(eve.get("app_proto")) or "").lower()
    if name not in APP_PORTS:  # `failed`, absent ...: the app-layer record the alert carries says it
        name = next((key for key in APP_PORTS if isinstance(eve.get(key), dict)), "")
    ports = APP_PORTS.get(name, frozenset())
    src, dest = as_int(eve.get("src_port")), as_int(eve.get("dest_port"))
    if src in ports and dest not in ports:
        return "src"
    if dest in ports and src not in ports:
        return "dest"
    return None


def _by_port_numbers(eve: dict[str, Any]) -> Side | None:
    src, dest = as_int(eve.get("src_port")), as_int(eve.get("dest_port"))
    if src is None or dest is None:
        return None
    for bound in (WELL_KNOWN_BELOW, EPHEMERAL_FROM):
        if src < bound <= dest:
            return "src"
        if dest < bound <= src:
            return "dest"
    return None


Endpoint = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int | None]


def _endpoint(ip: Any, port: Any) -> Endpoint | None:
    try:
        # EVE writes IPv6 in full (`fe80:0000:...`) in some places and short in others.
        return ipaddress.ip_address(str(ip).strip()), as_int(port)
    except ValueError:
        return None


def _only(flow_end: Endpoint | None, this: Endpoint | None, other: Endpoint | None) -> bool:
    """The flow's end is this side of the packet and not the other (same host both sides: ports tell)."""
    return _same(flow_end, this) and not _same(flow_end, other)


def _same(flow_end: Endpoint | None, side: Endpoint | None) -> bool:
    if flow_end is None or side is None or flow_end[0] != side[0]:
        return False
    return flow_end[1] is None or flow_end[1] == side[1]
