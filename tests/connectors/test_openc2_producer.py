"""The OpenC2 SLPF producer against a recording consumer that answers as the profile says: the exact command (with
`response_requested: complete`, the duration in milliseconds, the actuator specifiers), the media type and the
credential (by reference) on the wire; the rule number as the receipt's handle and its delete as the undo; 400 and
501 refused, 500 retried; a delete of a rule already gone is done."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from xorb_orchestrator.connectors.base import CallContext, ConnectorRejected, ConnectorUnavailable
from xorb_orchestrator.connectors.connections import Auth, Connection
from xorb_orchestrator.connectors.openc2 import DeleteArgs, NetArgs, QueryArgs, delete, deny, query_features

pytestmark = pytest.mark.asyncio(loop_scope="session")
CONTEXT = CallContext(key="incident-1/block", incident_id="incident-1", attempt=1)
TOKEN = "oc2-token-" + "3f9a"


class Consumer:
    """Answers each command by its action/target; `answer` overrides the status for the next commands."""

    def __init__(self) -> None:
        self.commands: list[tuple[dict[str, str], Any]] = []
        self.status: int | None = None
        self.status_text = ""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                command = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.commands.append((dict(self.headers.items()), command))
                if owner.status is not None:
                    body: dict[str, Any] = {"status": owner.status, "status_text": owner.status_text}
                elif command["action"] in ("deny", "allow"):
                    body = {"status": 200, "results": {"slpf": {"rule_number": 1234}}}
                elif command["action"] == "query":
                    body = {"status": 200, "results": {"versions": ["1.0"], "profiles": ["slpf"],
                                                       "pairs": {"deny": ["ipv4_net"]}}}  # fmt: skip
                else:
                    body = {"status": 200}
                data = json.dumps(body).encode()
                self.send_response(body["status"] if body["status"] >= 200 else 200)
                self.send_header("Content-Type", "application/openc2-rsp+json;version=1.0")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/openc2"


@pytest.fixture
def consumer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Consumer]:
    monkeypatch.setenv("XORB_TEST_OC2_TOKEN", TOKEN)
    running = Consumer()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


def connection(consumer: Consumer) -> Connection:
    return Connection(
        name="gw-1",
        type="openc2-slpf",
        url=consumer.url,
        auth=Auth(type="bearer", token="env:XORB_TEST_OC2_TOKEN"),
        options={"actuator": {"asset_id": "gw-1"}},
    )


async def test_a_deny_sends_the_profiles_command_and_returns_its_rule_as_the_handle(consumer: Consumer) -> None:
    done = await deny(connection(consumer), NetArgs(address="198.51.100.7", duration=timedelta(hours=1)), CONTEXT)
    [(headers, command)] = consumer.commands
    assert command == {
        "action": "deny",
        "target": {"ipv4_net": "198.51.100.7/32"},
        "args": {"response_requested": "complete", "duration": 3_600_000},
        "actuator": {"slpf": {"asset_id": "gw-1"}},
    }
    assert headers["Content-Type"] == "application/openc2-cmd+json;version=1.0"
    assert headers["Authorization"] == f"Bearer {TOKEN}" and headers["X-Request-ID"] == CONTEXT.key
    receipt = done.receipt
    assert receipt is not None and receipt.handle == "slpf:rule_number 1234" and receipt.expires_at is not None
    assert receipt.undo is not None and receipt.undo.model_dump() == {
        "action": "openc2.delete", "args": {"rule_number": 1234, "connection": "gw-1"}
    }  # fmt: skip
    assert TOKEN not in receipt.model_dump_json()


async def test_refusals_and_failures_are_told_apart(consumer: Consumer) -> None:
    for status, text, error in ((400, "Bad Request", ConnectorRejected), (501, "Target type not supported",
                                ConnectorRejected), (500, "Rule not updated", ConnectorUnavailable)):  # fmt: skip
        consumer.status, consumer.status_text = status, text
        with pytest.raises(error, match=f"{status} {text}"):
            await deny(connection(consumer), NetArgs(address="2001:db8::/48"), CONTEXT)
    assert consumer.commands[-1][1]["target"] == {"ipv6_net": "2001:db8::/48"}


async def test_a_delete_of_a_rule_already_gone_is_done_and_query_reads_features(consumer: Consumer) -> None:
    deleted = await delete(connection(consumer), DeleteArgs(rule_number=1234), CONTEXT)
    assert deleted.details == {"rule_number": 1234, "deleted": True}
    consumer.status, consumer.status_text = 500, "Rule not found"
    again = await delete(connection(consumer), DeleteArgs(rule_number=1234), CONTEXT)
    assert again.details["deleted"] is False and again.receipt is not None and again.receipt.repeated
    consumer.status = None
    features = await query_features(connection(consumer), QueryArgs(), CONTEXT)
    assert features.details["results"]["pairs"] == {"deny": ["ipv4_net"]}
    assert consumer.commands[-1][1]["target"] == {"features": ["versions", "profiles", "pairs", "rate_limit"]}
