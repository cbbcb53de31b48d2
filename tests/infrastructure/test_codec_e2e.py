"""With XORB_PAYLOAD_KEYS, Temporal's history holds ciphertext only: a canary in an alert is nowhere in the raw
history a plain client reads, while the API and `xorb codec-server` (the Web UI's codec endpoint) still read it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.service import RPCError

from tests.support.processes import clean_env, start_xorb, xorb_processes
from tests.support.stack import RedisServer, make_settings, service
from xorb_orchestrator.config.payload_keys import parse_payload_keys
from xorb_orchestrator.infrastructure.codec import ENCODING, EncryptionCodec
from xorb_orchestrator.infrastructure.ports import free_port, port_in_use

pytestmark = pytest.mark.timeout(60)

KEYS = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
# What stays in clear, by design: search attributes (the server indexes them; ours are a status, a severity, a
# digest, and the SDK's patch ids) and the SDK core's own markers (a patch's id; a local activity's seq, type and
# times), none of which carries a value of ours.
CORE_MARKER_FIELDS = {"id", "deprecated", "seq", "attempt", "activity_id", "activity_type", "complete_time"}
CORE_MARKER_FIELDS |= {"backoff", "original_schedule_time", "activation_index"}


@dataclass
class Recorded:
    canary: str
    incident_id: str
    title: str  # as the running API showed it
    histories: list[WorkflowHistory]  # as a client without the codec reads them


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def recorded(temporal_address: str, redis_server: RedisServer) -> Recorded:
    """One incident run by the real service with keys set, read back by a plain client once it has closed."""
    canary = "canary-" + uuid.uuid4().hex
    alert = {
        "title": f"Outbound beacon {canary}",
        "severity": "low",
        "source": "codec-e2e",
        "rule": "codec-" + uuid.uuid4().hex[:8],
        "observables": {"src_ip": "10.0.0.31", "user": canary},
        "raw": {"note": canary},
    }
    settings = make_settings(temporal_address, redis_server.url, XORB_PAYLOAD_KEYS=KEYS)
    plain = await Client.connect(temporal_address)  # no data converter, no codec: what Temporal stores
    async with service(settings) as svc:
        incident_id = await svc.send_alert(alert)
        view = await svc.wait_for_incident(incident_id)
        handle = plain.get_workflow_handle(incident_id)
        deadline = time.monotonic() + 15
        while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:  # closed: its memo is written
            assert time.monotonic() < deadline, "the incident did not close"
            await asyncio.sleep(0.2)
        histories = [await handle.fetch_history()]
        with contextlib.suppress(RPCError):  # the policy may have run no playbook for this alert
            histories.append(await plain.get_workflow_handle(f"playbook-{incident_id}-1").fetch_history())
    return Recorded(canary, incident_id, view["title"], histories)


def payloads_in(message: Message, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Payload]]:
    """Every Payload in a proto message, with the names of the messages it sits in."""
    if isinstance(message, Payload):
        yield path, message
        return
    here = (*path, message.DESCRIPTOR.name)
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        else:
            items = list(value) if field.is_repeated else [value]
        for item in items:
            if isinstance(item, Message):
                yield from payloads_in(item, here)


def history_payloads(recorded: Recorded) -> list[tuple[tuple[str, ...], Payload]]:
    return [found for history in recorded.histories for event in history.events for found in payloads_in(event)]


async def test_the_raw_history_holds_no_alert_content_and_the_codec_reads_it(recorded: Recorded) -> None:
    canary = recorded.canary.encode()
    assert recorded.canary in recorded.title  # the API (the service's own client, with the codec) reads it
    for history in recorded.histories:
        raw = b"".join(event.SerializeToString() for event in history.events)
        assert canary not in raw, f"the canary is in {history.workflow_id}'s history in clear"
        assert recorded.canary not in history.to_json()
    found = history_payloads(recorded)
    for path, payload in found:
        if payload.metadata.get("encoding") == ENCODING or "SearchAttributes" in path:
            continue
        assert "MarkerRecordedEventAttributes" in path, f"a payload in clear in {path}: {payload.data[:200]!r}"
        assert set(json.loads(payload.data)) <= CORE_MARKER_FIELDS, f"a marker in clear: {payload.data[:200]!r}"
    # The closed incident's memo (its fingerprints) is encrypted too: the Python SDK encodes memos.
    assert any("WorkflowPropertiesModifiedEventAttributes" in path for path, _ in found)
    codec = EncryptionCodec(parse_payload_keys(KEYS))
    decoded = await codec.decode([p for _, p in found if p.metadata.get("encoding") == ENCODING])
    assert any(canary in p.data for p in decoded)


@pytest.fixture
def codec_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`xorb codec-server` as a subprocess on a free port, with a token: (its URL, the token)."""
    token = "codec-token-" + uuid.uuid4().hex
    port = free_port()
    env = clean_env(XORB_PAYLOAD_KEYS=KEYS, XORB_CODEC_SERVER_TOKEN=token)
    args = ["codec-server", "--listen", f"127.0.0.1:{port}", "--cors-origin", "http://localhost:8233"]
    with xorb_processes() as started:
        proc = start_xorb(args, env, tmp_path / "codec-server.log")
        started.append(proc)
        deadline = time.monotonic() + 15
        while not port_in_use(port):
            assert proc.proc.poll() is None, f"xorb codec-server exited:\n{proc.output()}"
            assert time.monotonic() < deadline, f"xorb codec-server did not listen:\n{proc.output()}"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", token
        output = proc.output()
    assert token not in output and KEYS.partition(":")[2] not in output


async def test_codec_server_decodes_history_payloads_for_the_web_ui(
    recorded: Recorded, codec_server: tuple[str, str]
) -> None:
    url, token = codec_server
    encrypted = [p for path, p in history_payloads(recorded) if p.metadata.get("encoding") == ENCODING]
    body = {"payloads": [MessageToDict(p) for p in encrypted]}
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        refused = await http.post("/decode", json=body)
        assert refused.status_code == 401, refused.text
        assert recorded.canary not in refused.text
        wrong = await http.post("/decode", json=body, headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        answer = await http.post("/decode", json=body, headers={**auth, "X-Namespace": "default"})
        assert answer.status_code == 200, answer.text
        decoded = answer.json()["payloads"]
        assert len(decoded) == len(encrypted)
        assert any(recorded.canary.encode() in base64.b64decode(p.get("data", "")) for p in decoded)
        assert all(base64.b64decode(p["metadata"]["encoding"]) != ENCODING for p in decoded)
        # /encode gives what /decode reads; a payload already in clear passes /decode unchanged.
        clear = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": "InRlc3Qi"}
        sealed = (await http.post("/encode", json={"payloads": [clear]}, headers=auth)).json()["payloads"]
        assert base64.b64decode(sealed[0]["metadata"]["encoding"]) == ENCODING
        opened = (await http.post("/decode", json={"payloads": [*sealed, clear]}, headers=auth)).json()
        assert opened["payloads"] == [clear, clear]
        # The Web UI calls from its own origin: the preflight is answered without a token.
        preflight = await http.options(
            "/decode",
            headers={
                "Origin": "http://localhost:8233",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:8233"
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert {"content-type", "x-namespace", "authorization"} <= {h.strip() for h in allowed.split(",")}
        bad = await http.post("/decode", content=b"not json", headers=auth)
        assert bad.status_code == 400 and "payloads" in json.loads(bad.text)["message"]


def test_codec_server_without_keys_says_so_in_one_line(tmp_path: Path) -> None:
    with xorb_processes() as started:
        proc = start_xorb(["codec-server"], clean_env(), tmp_path / "no-keys.log")
        started.append(proc)
        assert proc.proc.wait(30) == 2
    lines = proc.output().strip().splitlines()
    assert lines == [
        "xorb: error: XORB_PAYLOAD_KEYS is not set: the codec server has no key to encrypt or decrypt with"
    ]
