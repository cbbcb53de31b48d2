"""A tiny pcap writer for detector tests: one HTTP exchange and one DNS query, built byte by byte.

Pure `struct`, no scapy: classic libpcap format, Ethernet + IPv4 + TCP/UDP with correct checksums,
so a sensor that validates checksums sees well-formed traffic and reassembles the TCP stream.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from pathlib import Path

CLIENT_IP = "10.10.0.5"
SERVER_IP = "203.0.113.80"  # TEST-NET-3
RESOLVER_IP = "10.10.0.53"
HTTP_HOST = "updates.c2.example"
HTTP_PATH = "/beacon?id=42"
DNS_NAME = "exfil.c2.example"

_SYN, _ACK, _PSH, _FIN = 0x02, 0x10, 0x08, 0x01
_MAC_CLIENT, _MAC_SERVER = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
_START = 1_700_000_000  # packet times: fixed, so the capture is reproducible


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): ones' complement of the ones' complement sum of 16-bit words."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int) -> bytes:
    def header(csum: int) -> bytes:
        return struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, csum,
            ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed,
        )  # fmt: skip

    return header(checksum(header(0))) + payload


def _pseudo(src: str, dst: str, proto: int, length: int) -> bytes:
    """The IPv4 pseudo-header that TCP and UDP checksums cover."""
    a, b = ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed
    return struct.pack("!4s4sBBH", a, b, 0, proto, length)


def _tcp(src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: int, data: bytes) -> bytes:
    def segment(csum: int) -> bytes:
        return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, csum, 0) + data

    csum = checksum(_pseudo(src, dst, 6, 20 + len(data)) + segment(0))
    return segment(csum)


def _udp(src: str, dst: str, sport: int, dport: int, data: bytes) -> bytes:
    length = 8 + len(data)
    csum = checksum(_pseudo(src, dst, 17, length) + struct.pack("!HHHH", sport, dport, length, 0) + data)
    return struct.pack("!HHHH", sport, dport, length, csum or 0xFFFF) + data


@dataclass
class Capture:
    """Frames in order, each with its timestamp; `write` saves them as a pcap file."""

    frames: list[tuple[float, bytes]] = field(default_factory=list)

    def add(self, src: str, dst: str, proto: int, transport: bytes) -> None:
        macs = (_MAC_SERVER + _MAC_CLIENT) if src == SERVER_IP else (_MAC_CLIENT + _MAC_SERVER)
        ip = _ipv4(src, dst, proto, transport, ident=len(self.frames) + 1)
        self.frames.append((_START + len(self.frames) * 0.01, macs + b"\x08\x00" + ip))

    def write(self, path: Path) -> Path:
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # LINKTYPE_ETHERNET
        for when, frame in self.frames:
            sec, usec = int(when), round((when % 1) * 1_000_000)
            out.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
        path.write_bytes(b"".join(out))
        return path


def add_http_exchange(cap: Capture, host: str = HTTP_HOST, path: str = HTTP_PATH) -> None:
    """Handshake, GET with a Host header, a 200 response, and a FIN from each side."""
    c, s, cport, sport = CLIENT_IP, SERVER_IP, 49152, 80
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: xorb-test\r\nAccept: */*\r\n\r\n".encode()
    body = b"ok\n"
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    )
    cseq, sseq = 1000, 5000  # initial sequence numbers
    cap.add(c, s, 6, _tcp(c, s, cport, sport, cseq, 0, _SYN, b""))
    cap.add(s, c, 6, _tcp(s, c, sport, cport, sseq, cseq + 1, _SYN | _ACK, b""))
    cseq, sseq = cseq + 1, sseq + 1
    cap.add(c, s, 6, _tcp(c, s, cport, sport, cseq, sseq, _ACK, b""))
    cap.add(c, s, 6, _tcp(c, s, cport, sport, cseq, sseq, _PSH | _ACK, request))
    cseq += len(request)
    cap.add(s, c, 6, _tcp(s, c, sport, cport, sseq, cseq, _ACK, b""))
    cap.add(s, c, 6, _tcp(s, c, sport, cport, sseq, cseq, _PSH | _ACK, response))
    sseq += len(response)
    cap.add(c, s, 6, _tcp(c, s, cport, sport, cseq, sseq, _ACK, b""))
    cap.add(c, s, 6, _tcp(c, s, cport, sport, cseq, sseq, _FIN | _ACK, b""))
    cap.add(s, c, 6, _tcp(s, c, sport, cport, sseq, cseq + 1, _FIN | _ACK, b""))
    cap.add(c, s, 6, _tcp(c, s, cport, sport, cseq + 1, sseq + 1, _ACK, b""))


def add_dns_query(cap: Capture, name: str = DNS_NAME, txid: int = 0x1A2B) -> None:
    """One standard A query (recursion desired) from the client to its resolver."""
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")) + b"\0"
    message = struct.pack("!HHHHHH", txid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1)
    cap.add(CLIENT_IP, RESOLVER_IP, 17, _udp(CLIENT_IP, RESOLVER_IP, 53000, 53, message))


def write_c2_capture(path: Path) -> Path:
    """The capture the Suricata tests replay: the DNS query, then the HTTP exchange."""
    cap = Capture()
    add_dns_query(cap)
    add_http_exchange(cap)
    return cap.write(path)
