"""Two network namespaces joined by a veth pair, for firewall tests that send real traffic: a "client" namespace
and a "gateway" one running a small TCP service. Each test makes its own (random names) and removes them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

SERVICE_PORT = 7777
_SERVER = f"""
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {SERVICE_PORT})); s.listen()
while True:
    c, _ = s.accept(); c.sendall(b"hi"); c.close()
"""
_PROBE = """
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=0.7)
    print("open" if c.recv(2) == b"hi" else "odd")
except OSError:
    print("closed")
"""


def require_netns() -> None:
    """Skip (with the reason) where nftables or network namespaces are not available."""
    if shutil.which("nft") is None or shutil.which("ip") is None:
        pytest.skip("nft or ip not installed (apt-get install nftables iproute2; .ci/run does)")
    probe = f"xorbprobe{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create network namespaces here: {made.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], check=False)


@dataclass
class Pair:
    client: str
    gateway: str
    client_ip: str
    gateway_ip: str

    def reachable(self) -> bool:
        """Whether a TCP connection from the client to the gateway's service gets its answer."""
        out = subprocess.run(
            ["ip", "netns", "exec", self.client, sys.executable, "-c", _PROBE, self.gateway_ip, str(SERVICE_PORT)],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() == "open"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextmanager
def namespace_pair(net: str | None = None) -> Iterator[Pair]:
    """`net`: the /24 the pair is addressed in (its first three octets), e.g. a documentation range an orchestrator
    counts as external; default a random 10.251.x.0/24. The namespaces are private either way."""
    require_netns()
    tag = uuid.uuid4().hex[:6]
    client, gateway = f"xc{tag}", f"xg{tag}"
    net = net or f"10.251.{int(tag[:2], 16) % 250 + 1}"
    pair = Pair(client, gateway, f"{net}.1", f"{net}.2")
    server = None
    try:
        _ip("netns", "add", client)
        _ip("netns", "add", gateway)
        _ip("link", "add", f"vc{tag}", "netns", client, "type", "veth", "peer", "name", f"vg{tag}", "netns", gateway)
        _ip("-n", client, "addr", "add", f"{pair.client_ip}/24", "dev", f"vc{tag}")
        _ip("-n", gateway, "addr", "add", f"{pair.gateway_ip}/24", "dev", f"vg{tag}")
        for ns, dev in ((client, f"vc{tag}"), (gateway, f"vg{tag}")):
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        server = subprocess.Popen(["ip", "netns", "exec", gateway, sys.executable, "-c", _SERVER])
        for _ in range(50):
            if pair.reachable():
                break
        yield pair
    finally:
        if server is not None:
            server.kill()
            server.wait(5)
        for ns in (client, gateway):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
