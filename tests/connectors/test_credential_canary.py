"""A canary credential, given to a connection by reference, reaches the tool it is for and nowhere else: not a log
line at LOG_LEVEL=DEBUG (text and JSON), not Temporal's history of the incident or its playbook run, not a Redis
key, not /metrics, not an API answer. The same for a canary in the notification webhook's URL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from temporalio.client import Client

from tests.support.processes import clean_env, start_xorb, xorb_processes
from tests.support.stack import RedisServer
from tests.support.tool_servers import ToolServer
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.infrastructure.ports import free_port

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

PLAYBOOK = """
id: block-with-credential
name: Block through the firewall's API, with the connection's credential
version: "1"
tags: [T1003]
steps:
  - id: go
    approval: {approvers: {roles: [soc-lead]}, timeout: 1s, on_timeout: approve}
  - id: block
    action: http.call
    args: {method: POST, path: "api/firewall/alias_util/add/xorb", json: {address: "192.0.2.99"}, connection: fw-api}
  - id: tell
    action: notify.webhook
    args: {text: "blocked for ${{ incident.id }}"}
"""
POLICY = "version: 1\nname: run-matched\nrules: [{name: run, playbook: candidate, autonomy: approve}]\n"
ALERT = {"title": "Credential dumping", "severity": "high", "source": "edr", "rule": "lsass-access",
         "observables": {"hostname": "ws-9"}, "techniques": ["T1003"]}  # fmt: skip


async def redis_text(url: str) -> str:
    """Every key and value in Redis, as text."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    parts: list[str] = []
    try:
        async for key in client.scan_iter(count=1000):
            kind = await client.type(key)
            value: Any = {
                "string": client.get,
                "hash": client.hgetall,
                "set": client.smembers,
                "list": lambda k: client.lrange(k, 0, -1),
                "zset": lambda k: client.zrange(k, 0, -1),
            }.get(kind, lambda k: client.type(k))(key)
            parts.append(f"{key} {await value}")
    finally:
        await client.aclose()
    return "\n".join(parts)


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_a_canary_credential_reaches_its_tool_and_nowhere_else(
    temporal_address: str,
    temporal_client: Client,
    redis_server: RedisServer,
    webhook_sink: WebhookSink,
    tmp_path: Path,
    log_format: str,
) -> None:
    canary = "CANARY-cred-" + uuid.uuid4().hex
    hook_canary = "CANARY-hook-" + uuid.uuid4().hex
    tools = ToolServer().start()
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "ticket.yaml").write_text(PLAYBOOK)
    (tmp_path / "policy.yaml").write_text(POLICY)
    (tmp_path / "connectors.yaml").write_text(
        f"connections:\n  - name: fw-api\n    type: http\n    url: {tools.url}/\n"
        "    auth: {type: bearer, token: 'env:XORB_TEST_FW_TOKEN'}\n"
    )
    port, api_key = free_port(), "key-" + uuid.uuid4().hex
    env = clean_env(
        TEMPORAL_HOST=temporal_address,
        REDIS_URL=redis_server.url,
        TEMPORAL_TASK_QUEUE="test-" + uuid.uuid4().hex[:12],
        XORB_API_PORT=port,
        XORB_API_KEYS=api_key,
        XORB_NOTIFY_WEBHOOK_URLS=webhook_sink.url.removesuffix("/hook") + f"/services/T0/B0/{hook_canary}",
        XORB_PLAYBOOKS_DIR=tmp_path / "playbooks",
        XORB_POLICY_FILE=tmp_path / "policy.yaml",
        XORB_CONNECTORS_FILE=tmp_path / "connectors.yaml",
        XORB_TEST_FW_TOKEN=canary,
        XORB_INCIDENT_LINGER_SECONDS=0,
        LOG_LEVEL="DEBUG",
        LOG_FORMAT=log_format,
    )
    answers: list[str] = []
    try:
        with xorb_processes() as started:
            proc = start_xorb(["serve"], env, tmp_path / "serve.log")
            started.append(proc)
            headers = {"Authorization": f"Bearer {api_key}"}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as http:
                deadline = time.monotonic() + 30
                while True:
                    assert proc.proc.poll() is None, f"xorb serve exited:\n{proc.output()[-3000:]}"
                    assert time.monotonic() < deadline, f"the API did not come up:\n{proc.output()[-3000:]}"
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get("/healthz")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
                response = await http.post("/v1/alerts", json=ALERT)
                assert response.status_code == 202, response.text
                incident_id = response.json()["incident_id"]
                while True:
                    view = (await http.get(f"/v1/incidents/{incident_id}")).json()
                    if view.get("status") in ("completed", "closed", "failed"):
                        break
                    assert time.monotonic() < deadline + 40, f"incident not done:\n{proc.output()[-3000:]}"
                    await asyncio.sleep(0.2)
                assert view["status"] in ("completed", "closed"), view
                for path in (f"/v1/incidents/{incident_id}", "/v1/incidents", "/v1/approvals", "/metrics"):
                    answers.append((await http.get(path)).text)
            proc.stop()
        histories = [
            json.dumps((await temporal_client.get_workflow_handle(wid).fetch_history()).to_json_dict())
            for wid in (incident_id, f"playbook-{incident_id}-1")
        ]
        stored = await redis_text(redis_server.url)
    finally:
        tools.stop()

    # It did its job: the firewall's API got the credential, on the call the playbook made.
    [call] = [c for c in tools.calls if c.path == "/api/firewall/alias_util/add/xorb"]
    assert call.headers.get("Authorization") == f"Bearer {canary}"
    assert any(hook_canary in str(item["path"]) for item in webhook_sink.received)  # and the SOC was told
    # And nowhere else.
    places = {"log": proc.output(), "history": "\n".join(histories), "redis": stored, "api": "\n".join(answers)}
    for name, text in places.items():
        assert canary not in text, f"the connection's credential is in the {name}"
        assert hook_canary not in text, f"the webhook URL's token is in the {name}"
    assert '"receipt"' in json.dumps(view["playbook_run"]["steps"])  # the run (and its receipt) is there to look at
