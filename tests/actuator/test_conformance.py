"""Conformance probes over HTTP against a running actuator (acting on a network namespace's nftables): valid
commands get 200 and what the profile says they return, malformed ones 400, valid ones it does not carry out 501,
a missing or wrong key 401; an envelope is answered with an envelope; response_requested is honoured."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.actuator.actuators import Actuator, namespace, running_actuator
from xorb_orchestrator.actuator.commands import RULE_TARGETS

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

RSP = "application/openc2-rsp+json;version=1.0"


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    with namespace() as name:
        yield name


@pytest_asyncio.fixture(loop_scope="session")
async def actuator(netns: str, tmp_path: Path) -> AsyncIterator[Actuator]:
    subprocess.run(["ip", "netns", "exec", netns, "nft", "delete", "table", "inet", "xorb"], capture_output=True)
    async with running_actuator(netns, tmp_path / "state") as running:
        yield running


async def test_query_features_says_what_it_supports(actuator: Actuator) -> None:
    everything = {"action": "query", "target": {"features": ["versions", "profiles", "pairs", "rate_limit"]}}
    response = await actuator.send(everything)
    assert response.status_code == 200 and response.headers["content-type"] == RSP
    assert response.headers["cache-control"] == "no-cache"
    assert response.json() == {
        "status": 200,
        "results": {
            "versions": ["1.0"],
            "profiles": ["slpf"],
            "pairs": {
                "allow": RULE_TARGETS,
                "deny": RULE_TARGETS,
                "query": ["features"],
                "delete": ["slpf:rule_number"],
            },
            "rate_limit": 600,
        },
    }
    heartbeat = await actuator.send({"action": "query", "target": {"features": []}})
    assert heartbeat.json() == {"status": 200}


async def test_deny_allow_and_delete_answer_with_rule_numbers(actuator: Actuator) -> None:
    denied = await actuator.send(
        {
            "action": "deny",
            "target": {"ipv4_net": "192.0.2.0/24"},
            "args": {"response_requested": "complete", "duration": 60_000},
        }
    )
    assert denied.status_code == 200 and denied.json() == {"status": 200, "results": {"slpf": {"rule_number": 1}}}
    allowed = await actuator.send({"action": "allow", "target": {"ipv6_net": "2001:db8::7"}})  # complete by default
    assert allowed.json() == {"status": 200, "results": {"slpf": {"rule_number": 2}}}
    chosen = await actuator.send(
        {
            "action": "deny",
            "target": {"ipv6_connection": {"protocol": "udp", "dst_port": 53}},
            "args": {"slpf": {"insert_rule": 50, "direction": "egress"}},
        }
    )
    assert chosen.json()["results"]["slpf"]["rule_number"] == 50
    taken = await actuator.send(
        {"action": "deny", "target": {"ipv4_net": "198.51.100.1"}, "args": {"slpf": {"insert_rule": 50}}}
    )
    assert taken.status_code == 501 and taken.json()["status_text"] == "Rule number currently in use: 50"
    assert {rule.comment for rule in await actuator.firewall.tagged_rules()} == {
        "xorb-slpf rule 1",
        "xorb-slpf rule 50",
    }
    assert await actuator.firewall.allowed() == ["2001:db8::7"]

    for number in (1, 2, 50):
        deleted = await actuator.delete(number)
        assert (deleted.status_code, deleted.json()) == (200, {"status": 200})
    assert await actuator.firewall.tagged_rules() == [] and await actuator.firewall.allowed() == []
    again = await actuator.delete(1)
    assert again.status_code == 500
    assert again.json()["status_text"].startswith("Firewall rule not removed or updated: no such rule 1")


async def test_response_requested_none_ack_and_status(actuator: Actuator) -> None:
    target = {"ipv4_net": "203.0.113.5"}
    none = await actuator.send({"action": "deny", "target": target, "args": {"response_requested": "none"}})
    assert (none.status_code, none.content) == (204, b"")  # processed, and no response (SLPF 3.2.1.7.1)
    assert [e.value for e in await actuator.firewall.elements("block4")] == ["203.0.113.5"]
    ack = await actuator.send({"action": "deny", "target": target, "args": {"response_requested": "ack"}})
    assert (ack.status_code, ack.json()) == (202, {"status": 102})
    status = await actuator.send({"action": "deny", "target": target, "args": {"response_requested": "status"}})
    assert status.json() == {"status": 200, "results": {"slpf": {"rule_number": 1}}}  # the same rule each time
    failed = await actuator.send(
        {"action": "deny", "target": {"ipv4_net": "x"}, "args": {"response_requested": "none"}}
    )
    assert (failed.status_code, failed.content) == (400, b"")


MALFORMED: list[tuple[Any, str]] = [
    (b"{not json", "the body is not JSON"),
    (b"[1, 2]", "a command is a JSON object"),
    ({"action": "block", "target": {"ipv4_net": "192.0.2.1"}}, "action: 'block' is not an OpenC2 action"),
    ({"action": "deny", "target": {"ipv4_net": "192.0.2.1", "ipv6_net": "::1"}}, "exactly one member"),
    ({"action": "deny", "target": {"ipv4_net": "192.0.2.256"}}, "'192.0.2.256' is not an IPv4 address"),
    ({"action": "deny", "target": {"ip_conection": {"src_port": 21}}}, "Validation Error: Target: 'ip_conection'"),
    ({"action": "deny", "target": {"ipv4_net": "192.0.2.1"}, "args": {"duration": -5}}, "args.duration"),
]


@pytest.mark.parametrize(("command", "text"), MALFORMED)
async def test_malformed_commands_are_400(actuator: Actuator, command: Any, text: str) -> None:
    response = await actuator.send(command)
    assert response.status_code == 400 and response.headers["content-type"] == RSP
    assert response.json()["status"] == 400 and text in response.json()["status_text"]


UNSUPPORTED: list[tuple[Any, str]] = [
    ({"action": "update", "target": {"file": {"name": "fw.conf", "path": "/etc"}}}, "Command not supported"),
    ({"action": "contain", "target": {"device": {"device_id": "9BCE"}}}, "Command not supported"),
    ({"action": "deny", "target": {"domain_name": "example.com"}}, "Target type not supported"),
    (
        {"action": "deny", "target": {"ipv4_net": "192.0.2.1"}, "args": {"slpf": {"drop_process": "false_ack"}}},
        "Option not supported",
    ),
    ({"action": "deny", "target": {"ipv4_net": "192.0.2.1"}, "args": {"x-acme": {"level": 3}}}, "Option not supported"),
]


@pytest.mark.parametrize(("command", "text"), UNSUPPORTED)
async def test_unsupported_pairs_and_arguments_are_501(actuator: Actuator, command: Any, text: str) -> None:
    response = await actuator.send(command)
    assert response.status_code == 501 and response.json()["status"] == 501
    assert response.json()["status_text"].startswith(text)
    assert await actuator.firewall.tagged_rules() == [] and await actuator.firewall.elements() == []


async def test_without_a_valid_key_nothing_is_done(actuator: Actuator) -> None:
    deny = {"action": "deny", "target": {"ipv4_net": "192.0.2.1"}}
    for key in (None, "wrong-key"):
        response = await actuator.send(deny, key=key)
        assert response.status_code == 401 and response.headers["www-authenticate"] == 'Bearer realm="openc2"'
        assert response.json()["status"] == 401
    basic = await actuator.send(deny, key=None, Authorization="Basic YWN0dWF0b3ItdGVzdC1rZXk=")
    assert basic.status_code == 401
    assert await actuator.firewall.elements() == []


async def test_an_envelope_is_answered_with_an_envelope(actuator: Actuator) -> None:
    message = {
        "headers": {
            "request_id": "5f8e2c1a-0f4b-4c1e-9a57-1c2d3e4f5a6b",
            "created": 1545257700000,
            "from": "soar.example",
            "to": ["gw-7"],
        },
        "body": {
            "openc2": {
                "request": {
                    "action": "deny",
                    "target": {"ipv4_net": "192.0.2.77"},
                    "args": {"response_requested": "complete"},
                }
            }
        },
    }
    response = await actuator.send(message, **{"Content-Type": "application/openc2+json;version=1.0"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/openc2+json;version=1.0"
    assert response.headers["x-request-id"] == "5f8e2c1a-0f4b-4c1e-9a57-1c2d3e4f5a6b"
    body = response.json()
    assert body["body"] == {"openc2": {"response": {"status": 200, "results": {"slpf": {"rule_number": 1}}}}}
    headers = body["headers"]
    assert (headers["request_id"], headers["from"], headers["to"]) == (
        "5f8e2c1a-0f4b-4c1e-9a57-1c2d3e4f5a6b",
        "gw-7",
        ["soar.example"],
    )
    assert isinstance(headers["created"], int)

    broken = await actuator.send(
        {"headers": {"request_id": "r-2"}, "body": {"openc2": {"response": {"status": 200}}}},
        **{"Content-Type": "application/openc2+json;version=1.0", "X-Request-ID": "ignored-for-the-header"},
    )
    assert broken.status_code == 400
    assert broken.json()["headers"]["request_id"] == "r-2"
    assert broken.json()["body"]["openc2"]["response"]["status"] == 400


async def test_the_request_id_header_comes_back_and_the_content_type_is_checked(actuator: Actuator) -> None:
    query = {"action": "query", "target": {"features": []}}
    echoed = await actuator.send(query, **{"X-Request-ID": "req-42"})
    assert echoed.headers["x-request-id"] == "req-42"
    wrong = await actuator.send(query, **{"Content-Type": "text/plain"})
    assert wrong.status_code == 400 and "Content-Type: expected" in wrong.json()["status_text"]
    later = await actuator.send(query, **{"Content-Type": "application/openc2-cmd+json;version=2.0"})
    assert later.status_code == 400
    well_known = await actuator.client.post(
        actuator.url.replace("/openc2", "/.well-known/openc2"),
        json=query,
        headers={"Authorization": "Bearer actuator-test-key", "Content-Type": "application/openc2+json;version=1.0"},
    )
    assert well_known.json() == {"status": 200}
    assert (await actuator.client.get(actuator.url)).status_code == 405


async def test_the_rate_limit_it_announces_is_enforced(netns: str, tmp_path: Path) -> None:
    subprocess.run(["ip", "netns", "exec", netns, "nft", "delete", "table", "inet", "xorb"], capture_output=True)
    async with running_actuator(netns, tmp_path / "state", rate_limit=3) as actuator:
        query = {"action": "query", "target": {"features": ["rate_limit"]}}
        answers = [await actuator.send(query) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 503]
        assert answers[0].json() == {"status": 200, "results": {"rate_limit": 3}}
        assert answers[3].json()["status"] == 503 and int(answers[3].headers["retry-after"]) > 0


async def test_a_later_start_waits_and_a_longer_repeat_refreshes_the_expiry(actuator: Actuator) -> None:
    later = actuator.consumer.now_ms() + 1000
    scheduled = await actuator.deny({"ipv4_net": "192.0.2.10"}, start_time=later, duration=60_000)
    assert await actuator.firewall.elements() == []  # not yet
    short = await actuator.deny({"ipv4_net": "192.0.2.20"}, duration=5_000)
    assert await actuator.deny({"ipv4_net": "192.0.2.20"}, duration=120_000) == short
    (element,) = await actuator.firewall.elements()
    assert element.value == "192.0.2.20" and element.timeout_seconds == 120  # the later end, in the kernel too
    await asyncio.sleep(1.3)
    timeouts = {e.value: e.timeout_seconds for e in await actuator.firewall.elements()}
    assert timeouts["192.0.2.20"] == 120
    assert timeouts["192.0.2.10"] in (59, 60)  # put in place at its start_time, to end when it was to end
    rule = actuator.consumer.book.get(scheduled)
    assert rule is not None and rule.window.stop_ms == later + 60_000
