"""A stand-in for `POST /v1/alerts/{source}` that follows its contract and records every line it gets.

For the follower's unit tests: no Temporal, and failures on demand (503/429 with Retry-After, some
items "unavailable", connection refused by not running, 500 for any request holding a `poison` line,
every request answered `outage` as a gateway does with the API behind it down). Events are classified
by the real source adapters, so rejections carry the real reasons and JSON paths. Re-deliveries are
recognised by the alert's event id (or its content) and answered `duplicate: true`, as the real service does.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from xorb_orchestrator.infrastructure.ports import free_port
from xorb_orchestrator.sources import SOURCES, AlertFormatError, parse_event

API_KEY = "receiver-key"
NDJSON = ("application/x-ndjson", "application/jsonl", "application/json-seq")


@dataclass
class Failure:
    """What to answer instead of the normal answer, once."""

    status: int = 503
    retry_after: str | None = "1"
    # True: answer per item, accepting the first half of the alerts and marking the rest unavailable.
    partial: bool = False


@dataclass
class Received:
    at: float
    lines: list[bytes]
    status: int = 0


@dataclass
class Receiver:
    """The contract's endpoint on a free port. `accepted` holds each distinct alert line once, in order."""

    port: int = field(default_factory=free_port)
    api_key: str = API_KEY
    max_bytes: int = 1_048_576
    requests: list[Received] = field(default_factory=list)
    accepted: list[bytes] = field(default_factory=list)
    duplicates: int = 0
    failures: deque[Failure] = field(default_factory=deque)
    # A request with a line containing this is answered 500, as the API did for JSON nested too deep.
    poison: bytes | None = None
    # Every request, empty ones included, is answered this status (502/504: a gateway without its API).
    outage: int | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, times: int = 1, **failure: Any) -> None:
        for _ in range(times):
            self.failures.append(Failure(**failure))

    @property
    def lines_received(self) -> list[bytes]:
        """Every line of every request, re-sends included."""
        with self._lock:
            return [line for request in self.requests for line in request.lines]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status, body, headers = receiver._answer(self)
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- the contract -----------------------------------------------------------------------------

    def _answer(self, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, Any], dict[str, str]]:
        length = int(request.headers.get("content-length") or 0)
        raw = request.rfile.read(length)
        source = request.path.removeprefix("/v1/alerts/")
        outage = self.outage
        if outage is not None:
            with self._lock:
                self.requests.append(Received(time.monotonic(), raw.splitlines(), outage))
            return outage, _error("bad_gateway", "the upstream server is not answering"), {}
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, _error("unauthorized", "missing or invalid API key"), {}
        if not request.path.startswith("/v1/alerts/") or source not in SOURCES:
            return 404, _error("unknown_source", f"no adapter for source {source!r}"), {}
        if length > self.max_bytes:
            return 413, _error("body_too_large", f"request body exceeds the limit of {self.max_bytes} bytes"), {}
        media = request.headers.get("content-type", "").split(";")[0].strip()
        if not raw.strip():
            return 400, _error("empty_body", "request body is empty"), {}
        lines = [line for line in raw.splitlines() if line.strip()]
        with self._lock:
            received = Received(time.monotonic(), lines if media in NDJSON else [raw])
            self.requests.append(received)
            failure = self.failures.popleft() if self.failures else None
            if failure is not None and not failure.partial:
                received.status = failure.status
                headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
                return failure.status, _error("unavailable", "Temporal is unavailable"), headers
            if self.poison is not None and any(self.poison in line for line in lines):
                received.status = 500
                return 500, _error("internal_error", "internal error; see the service log"), {}
            events = [_event(line) for line in lines] if media in NDJSON else _document(raw)
            results = [self._one(source, i, event) for i, event in enumerate(events)]
            if failure is not None:  # partial: the second half of the alerts is "unavailable"
                alerts = [r for r in results if r["status"] == "accepted"]
                for r in reversed(alerts[len(alerts) // 2 :]):
                    self._forget(r)
                    r.update(status="unavailable", error="Temporal is unavailable")
            counts = {s: sum(1 for r in results if r["status"] == s) for s in ("accepted", "rejected", "ignored")}
            counts["unavailable"] = len(results) - sum(counts.values())
            body = {**counts, "results": [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]}
            if counts["unavailable"]:
                received.status = 503
                return 503, body, {"Retry-After": failure.retry_after if failure and failure.retry_after else "1"}
            received.status = 422 if results and counts["rejected"] == len(results) else 202
            return received.status, body, {}

    def _one(self, source: str, index: int, event: Any) -> dict[str, Any]:
        if isinstance(event, _Bad):
            return {"index": index, "status": "rejected", "error": event.message, "path": "$"}
        try:
            alert = parse_event(source, event)
        except AlertFormatError as exc:
            return {"index": index, "status": "rejected", "error": exc.message, "path": exc.path}
        if alert is None:
            return {"index": index, "status": "ignored", "reason": f"not an alert event of {source}"}
        key = alert.event_id or hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
        if key in self._seen:
            self.duplicates += 1
            return {"index": index, "status": "accepted", "incident_id": self._seen[key], "duplicate": True}
        incident = "incident-" + hashlib.sha256(alert.rule.encode()).hexdigest()[:24]
        self._seen[key] = incident
        line = json.dumps(event, sort_keys=True).encode()
        self.accepted.append(line)
        return {"index": index, "status": "accepted", "incident_id": incident, "duplicate": False, "_key": key}

    def _forget(self, result: dict[str, Any]) -> None:
        """An alert answered "unavailable" was not kept (call newest first: it pops `accepted`)."""
        key = result.pop("_key", None)
        if key is not None:
            del self._seen[key]
            self.accepted.pop()
        result.pop("incident_id", None)
        result.pop("duplicate", None)


class _Bad:
    def __init__(self, message: str) -> None:
        self.message = message


def _event(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        return _Bad(f"not valid JSON: {exc}")


def _document(raw: bytes) -> list[Any]:
    try:
        payload = json.loads(raw)
    except ValueError as exc:
        return [_Bad(f"not valid JSON: {exc}")]
    return payload if isinstance(payload, list) else [payload]


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": code, "message": message}


# --- Suricata EVE alert lines, shaped like tests/data/sources/suricata/*.json ---------------------------


def eve_alert(n: int, *, sid: int = 2_035_465, src_ip: str = "10.1.4.23", run: str = "") -> dict[str, Any]:
    """The n-th distinct EVE alert: its own flow id and timestamp, so its event id is its own."""
    seconds = n % 60
    minutes = (n // 60) % 60
    return {
        "timestamp": f"2024-05-14T09:{minutes:02d}:{seconds:02d}.{n % 1_000_000:06d}+0000",
        "flow_id": 1_402_930_384_000_000 + n,
        "in_iface": "eth1",
        "event_type": "alert",
        "src_ip": src_ip,
        "src_port": 49_000 + n % 16_000,
        "dest_ip": "198.51.100.77",
        "dest_port": 80,
        "proto": "TCP",
        "pkt_src": "wire/pcap",
        "tx_id": 0,
        "alert": {
            "action": "allowed",
            "gid": 1,
            "signature_id": sid,
            "rev": 2,
            "signature": f"ET MALWARE Win32/Example CnC Checkin (POST) {run}".strip(),
            "category": "A Network Trojan was detected",
            "severity": 1,
            "metadata": {"mitre_tactic_id": ["TA0011"], "mitre_technique_id": ["T1071.001"]},
        },
        "http": {"hostname": "update.cdn-check.example", "url": f"/gate.php?id={n}", "http_method": "POST"},
        "app_proto": "http",
        "direction": "to_server",
    }


def eve_line(n: int, **kwargs: Any) -> bytes:
    return json.dumps(eve_alert(n, **kwargs)).encode() + b"\n"


def eve_flow_line(n: int) -> bytes:
    """Telemetry, not an alert: the adapter ignores it."""
    event = {
        "timestamp": "2024-05-14T09:21:07.412398+0000",
        "flow_id": 900_000 + n,
        "event_type": "flow",
        "src_ip": "10.1.4.23",
        "dest_ip": "198.51.100.77",
        "proto": "TCP",
        "flow": {"pkts_toserver": 5, "pkts_toclient": 4, "bytes_toserver": 812, "bytes_toclient": 1290},
    }
    return json.dumps(event).encode() + b"\n"
