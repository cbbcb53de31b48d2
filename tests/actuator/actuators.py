"""An SLPF actuator running in this test's event loop on a free port, acting on a network namespace's nftables,
and stopped (server, timers, state lock) on the way out; and a namespace of its own for tests that need no traffic."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.netns import require_netns
from xorb_orchestrator.actuator.consumer import RATE_LIMIT, SlpfConsumer
from xorb_orchestrator.actuator.endpoint import Endpoint, bind
from xorb_orchestrator.actuator.nft_rules import SlpfFirewall
from xorb_orchestrator.actuator.server import create_app, http_server
from xorb_orchestrator.actuator.state import StateDir

KEY = "actuator-test-key"
COMMAND_TYPE = "application/openc2-cmd+json;version=1.0"


@dataclass
class Actuator:
    url: str
    client: httpx.AsyncClient
    consumer: SlpfConsumer
    firewall: SlpfFirewall

    async def send(self, command: Any, *, key: str | None = KEY, **headers: str) -> httpx.Response:
        """POST a command (JSON, or the raw bytes given) as a producer does."""
        sent = {"Content-Type": COMMAND_TYPE, **({"Authorization": f"Bearer {key}"} if key else {}), **headers}
        content = command if isinstance(command, bytes) else None
        return await self.client.post(self.url, json=None if content else command, content=content, headers=sent)

    async def deny(self, target: dict[str, Any], **args: Any) -> int:
        """A deny that must succeed; its rule number."""
        response = await self.send(
            {"action": "deny", "target": target, "args": {"response_requested": "complete", **args}}
        )
        assert response.status_code == 200, response.text
        return int(response.json()["results"]["slpf"]["rule_number"])

    async def delete(self, number: int) -> httpx.Response:
        return await self.send({"action": "delete", "target": {"slpf:rule_number": number}})


@asynccontextmanager
async def running_actuator(
    netns: str, state_dir: Path, *, keys: tuple[str, ...] = (KEY,), rate_limit: int = RATE_LIMIT
) -> AsyncIterator[Actuator]:
    firewall = SlpfFirewall("xorb", netns)
    consumer = SlpfConsumer(firewall, StateDir(state_dir), rate_limit=rate_limit)
    await consumer.start()
    try:
        sock = bind(Endpoint("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/openc2"
        server = http_server(create_app(consumer, keys, "gw-test"), None)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                assert not serving.done(), "the actuator's server did not start"
                await asyncio.sleep(0.01)
            async with httpx.AsyncClient(timeout=10) as client:
                yield Actuator(url, client, consumer, firewall)
        finally:
            server.should_exit = True
            await serving
    finally:
        await consumer.stop()


@contextmanager
def namespace() -> Iterator[str]:
    """A network namespace of its own (nothing in it but loopback), removed afterwards."""
    require_netns()
    name = f"xa{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
