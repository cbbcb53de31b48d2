"""Where the actuator listens, and the rules that keep it from listening carelessly.

Plain HTTP only on a loopback address (a producer on the same host, or a test); anywhere else it is HTTPS. Every
command is authenticated: by an API key, or by a client certificate when client certificates are required.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path


class EndpointError(ValueError):
    """The listening options cannot work; the message is one line naming the option."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port if port is None else port}/openc2"


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT ([v6]:PORT for an IPv6 address) as (host, port); EndpointError otherwise."""
    host, sep, port = text.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise EndpointError(f"--listen: expected HOST:PORT (e.g. 127.0.0.1:8443, [::1]:8443), got {text[:80]!r}")
    return host, int(port)


def endpoint(
    listen: str, tls_cert: Path | None, tls_key: Path | None, tls_client_ca: Path | None, api_keys: list[str]
) -> Endpoint:
    """The endpoint the options describe, checked: TLS files come together, plain HTTP stays on loopback, and
    commands are authenticated one way or another."""
    host, port = parse_listen(listen)
    if (tls_cert is None) != (tls_key is None):
        raise EndpointError("--tls-cert and --tls-key go together: give both, or neither for plain HTTP on loopback")
    if tls_client_ca is not None and tls_cert is None:
        raise EndpointError("--tls-client-ca needs --tls-cert and --tls-key (client certificates are a TLS feature)")
    if tls_cert is None and not is_loopback(host):
        raise EndpointError(
            f"--listen: plain HTTP only on a loopback address, not {host}: give --tls-cert and --tls-key for HTTPS"
        )
    if not api_keys and tls_client_ca is None:
        raise EndpointError(
            "no API keys: set XORB_ACTUATOR_API_KEYS (comma-separated), or require client certificates with "
            "--tls-client-ca"
        )
    return Endpoint(host, port, tls_cert, tls_key, tls_client_ca)


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback one (127.0.0.0/8, ::1)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    return bool(addresses) and all(address.is_loopback for address in addresses)


def bind(endpoint: Endpoint) -> socket.socket:
    """A listening socket on the endpoint (port 0: any free one); EndpointError naming why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            endpoint.host, endpoint.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise EndpointError(f"--listen: cannot listen on {endpoint.host}:{endpoint.port}: {exc.strerror}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise EndpointError(f"--listen: cannot listen on {endpoint.host}:{endpoint.port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock
