"""A webhook receiver whose requests wait until the test releases them, so response steps block.

It wraps the package's WebhookSink and records every arrival with its Idempotency-Key
(`<incident_id>/<step_id>`) and the peak number of steps in flight at once. Concurrency counts
distinct keys: when a worker gives up on a request (client timeout) and retries the same step, the
abandoned handler is still parked here, but it is the same step, not another concurrent incident.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from xorb_orchestrator.devtools.webhook_sink import Received, WebhookSink

# A parked request never waits longer than this, so a forgotten release cannot hang a test thread.
MAX_BLOCK_SECONDS = 120.0


@dataclass
class Arrival:
    key: str
    at: float
    item: Received
    gate: threading.Event = field(default_factory=threading.Event, repr=False)
    done: bool = False

    @property
    def incident_id(self) -> str:
        return self.key.partition("/")[0]

    @property
    def step_id(self) -> str:
        return self.key.partition("/")[2]


class BlockingSink:
    """Every POST waits for `release(key)` (or `open()`); answers 200 afterwards."""

    def __init__(self, *, blocking: bool = True) -> None:
        self._lock = threading.Lock()
        self._open = not blocking
        self.arrivals: list[Arrival] = []
        self.max_in_flight = 0
        self._sink = WebhookSink(on_request=self._on_request)

    # --- lifecycle --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._sink.url

    def start(self) -> BlockingSink:
        self._sink.start()
        return self

    def stop(self) -> None:
        self.open()
        self._sink.stop()

    # --- the handler (runs in the sink's request threads) -----------------------------------------

    def _on_request(self, item: Received) -> int:
        headers = {k.lower(): v for k, v in item["headers"].items()}
        arrival = Arrival(key=headers.get("idempotency-key", ""), at=time.monotonic(), item=item)
        with self._lock:
            if self._open:
                arrival.gate.set()
            self.arrivals.append(arrival)
            self.max_in_flight = max(self.max_in_flight, len(self._in_flight_keys()))
        arrival.gate.wait(MAX_BLOCK_SECONDS)
        with self._lock:
            arrival.done = True
        return 200

    def _in_flight_keys(self) -> set[str]:
        return {a.key for a in self.arrivals if not a.done}

    # --- what the test sees and does --------------------------------------------------------------

    def keys(self) -> list[str]:
        """Distinct keys in order of first arrival (a retried step appears once)."""
        with self._lock:
            return list(dict.fromkeys(a.key for a in self.arrivals))

    def in_flight(self) -> set[str]:
        with self._lock:
            return self._in_flight_keys()

    def count(self, key: str) -> int:
        with self._lock:
            return sum(1 for a in self.arrivals if a.key == key)

    def release(self, key: str) -> None:
        """Let every parked request for this step answer."""
        with self._lock:
            for arrival in self.arrivals:
                if arrival.key == key:
                    arrival.gate.set()

    def open(self) -> None:
        """Release everything parked and answer all later requests at once."""
        with self._lock:
            self._open = True
            for arrival in self.arrivals:
                arrival.gate.set()

    async def wait_for_arrivals(self, count: int, timeout: float = 30.0) -> list[Arrival]:
        """Wait until at least `count` requests (retries included) have arrived."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.arrivals) >= count:
                    return list(self.arrivals)
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} webhook request(s), got {len(self.arrivals)}")
            await asyncio.sleep(0.05)

    async def wait_for_keys(self, count: int, timeout: float = 30.0) -> list[str]:
        """Wait until requests for at least `count` distinct steps have arrived."""
        deadline = time.monotonic() + timeout
        while len(keys := self.keys()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected requests for {count} step(s), got {keys}")
            await asyncio.sleep(0.05)
        return keys
