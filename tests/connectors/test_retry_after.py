"""A tool's "come back later" as the next attempt's delay: the one reader of Retry-After (seconds or an HTTP-date)
and the vendors' epoch-second forms, the bounds a bogus hint is held to, and a real Temporal run whose step waits
the 3 s a 429 asked for instead of its retry policy's 1 s backoff."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from tests.support.playbook_runs import playbook, playbook_worker
from xorb_orchestrator.activities.actions.connector_actions import _error
from xorb_orchestrator.connectors.base import ConnectorRejected, ConnectorUnavailable
from xorb_orchestrator.connectors.connections import Connection, Connections
from xorb_orchestrator.connectors.replies import retry_after
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.models.incident import StepStatus
from xorb_orchestrator.models.playbook_run import RunStatus

pytestmark = pytest.mark.timeout(30)
NOW = 1_700_000_000.0


def answer(status: int, **headers: str) -> httpx.Response:
    # Latin-1, as a header arrives off the wire (a byte outside ASCII included).
    return httpx.Response(status, headers={k.replace("_", "-"): v.encode("latin-1") for k, v in headers.items()})


def test_the_reader_takes_each_form_of_the_hint() -> None:
    assert retry_after(answer(429, Retry_After="120"), NOW) == 120.0
    assert retry_after(answer(503, Retry_After=" 0 "), NOW) == 0.0
    assert retry_after(answer(503, Retry_After=formatdate(NOW + 90, usegmt=True)), NOW) == 90.0
    assert retry_after(answer(503, Retry_After="Tue, 14 Nov 2023 22:13:50 -0000"), NOW) == 30.0  # zone-less: GMT
    assert retry_after(answer(429, Retry_After=formatdate(NOW - 3600, usegmt=True)), NOW) == 0.0  # already past
    assert retry_after(answer(429, X_RateLimit_RetryAfter=str(int(NOW) + 30)), NOW) == 30.0  # CrowdStrike
    assert retry_after(answer(429, X_Rate_Limit_Reset=str(int(NOW) + 42)), NOW) == 42.0  # Okta
    assert retry_after(answer(429, X_Rate_Limit_Reset=str(int(NOW) - 5)), NOW) == 0.0
    # Retry-After wins; Okta's reset rides on every answer and means nothing but on a 429.
    assert retry_after(answer(429, Retry_After="5", X_Rate_Limit_Reset=str(int(NOW) + 42)), NOW) == 5.0
    assert retry_after(answer(500, X_Rate_Limit_Reset=str(int(NOW) + 42)), NOW) is None
    assert retry_after(answer(200), NOW) is None
    assert abs((retry_after(answer(429, Retry_After=formatdate(time.time() + 60, usegmt=True))) or 0) - 60) < 2


def test_garbage_is_no_hint() -> None:
    for bad in ("soon", "-5", "1.5", "3s", "Tue, 99 Foo 2023", "²", "9" * 400):
        assert retry_after(answer(429, Retry_After=bad), NOW) is None, bad
        assert retry_after(answer(429, X_RateLimit_RetryAfter=bad), NOW) is None, bad
        assert retry_after(answer(429, X_Rate_Limit_Reset=bad), NOW) is None, bad


def test_the_hint_is_the_next_delay_held_to_one_second_to_five_minutes() -> None:
    def error(exc: ConnectorRejected | ConnectorUnavailable) -> ApplicationError:
        return ActivityEnvironment().run(_error, exc)

    said = error(ConnectorUnavailable("POST api/x: answered 429 (retry after 30s)", retry_after=30.0))
    assert said.next_retry_delay == timedelta(seconds=30) and not said.non_retryable
    assert said.message == "POST api/x: answered 429 (retry after 30s)"  # the wait is said once
    flood = error(ConnectorUnavailable("answered 429 (retry after 0s)", retry_after=0.0))
    assert flood.next_retry_delay == timedelta(seconds=1) and flood.message.endswith("(next attempt in 1s)")
    stall = error(ConnectorUnavailable("answered 503 (retry after 86400s)", retry_after=86400.0))
    assert stall.next_retry_delay == timedelta(minutes=5) and stall.message.endswith("(next attempt in 300s)")
    assert error(ConnectorUnavailable("timed out")).next_retry_delay is None  # the retry policy's backoff
    refused = error(ConnectorRejected("answered 404"))
    assert refused.non_retryable and refused.next_retry_delay is None and refused.type == "ActionRejected"


class BusyApi:
    """Answers its first request 429 with `Retry-After: 3`, then 200; records when each request arrived."""

    def __init__(self) -> None:
        self.arrived: list[float] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.arrived.append(time.monotonic())
                first = len(owner.arrived) == 1
                data = b'{"error": "slow down"}' if first else b'{"id": "T-1"}'
                self.send_response(429 if first else 200)
                if first:
                    self.send_header("Retry-After", "3")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def busy_api() -> Iterator[BusyApi]:
    running = BusyApi()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


@pytest.mark.asyncio(loop_scope="session")
async def test_a_step_waits_the_retry_after_its_tool_asked_for(
    temporal_client: Client, webhook_sink: WebhookSink, busy_api: BusyApi
) -> None:
    # The policy's backoff is 1s (the shortest a playbook can say): a gap near 3s can only be the hint.
    pb = playbook(
        """
id: busy-tool
name: A busy tool says when to come back
version: "1"
steps:
  - id: ticket
    action: http.call
    args: {method: POST, path: tickets, json: {title: "beaconing"}, connection: api}
    retry: {max_attempts: 3, initial_interval: 1s}
"""
    )
    api = Connection(name="api", type="http", url=f"{busy_api.url}/")
    async with playbook_worker(temporal_client, webhook_sink.url, Connections(connections=[api])) as runner:
        result = await runner.run(pb)
    assert result.status is RunStatus.COMPLETED, result.error
    step = result.steps[0]
    assert step.status is StepStatus.COMPLETED and step.attempts == 2
    assert step.result["status"] == 200
    first, second = busy_api.arrived
    assert 2.5 <= second - first < 8, f"the retry came {second - first:.2f}s after the 429"
