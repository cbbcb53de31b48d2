"""Session fixtures: one real Temporal dev server and one real Redis, on free ports, for the whole run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.support.handler_warnings import unfinished_handler_warnings
from tests.support.stack import RedisServer, dev_temporal
from xorb_orchestrator.devtools.webhook_sink import WebhookSink


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    async with dev_temporal() as env:
        yield env


@pytest.fixture(scope="session")
def temporal_address(temporal_env: WorkflowEnvironment) -> str:
    config = temporal_env.client.service_client.config
    return str(config.target_host)


@pytest.fixture(scope="session")
def temporal_client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(Path(tmp_path_factory.mktemp("redis")))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture(autouse=True)
def no_unfinished_handlers() -> Iterator[None]:
    """A workflow that completed with an update or signal handler still running fails the test."""
    with unfinished_handler_warnings() as found:
        yield
    if found:
        pytest.fail("workflow completed with unfinished handlers:\n" + "\n".join(found), pytrace=False)
