"""Running the service: the Temporal worker, the HTTP API, or both, until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import httpx
import uvicorn
from prometheus_client import start_http_server

from xorb_orchestrator.api.app import create_app
from xorb_orchestrator.api.deps import Services
from xorb_orchestrator.config import Settings, SettingsError
from xorb_orchestrator.config.api_keys import ApiKeyEntry
from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.infrastructure.temporal import connect, ensure_search_attributes, sdk_runtime
from xorb_orchestrator.services.intake import AlertIntake
from xorb_orchestrator.worker import build_worker

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: this process decides when everything stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Roles:
    worker: bool = True
    api: bool = True


def required_api_keys(settings: Settings) -> list[ApiKeyEntry]:
    keys = settings.load_api_key_entries()
    if not keys:
        raise SettingsError(
            "XORB_API_KEYS: no API key configured; set XORB_API_KEYS or XORB_API_KEY_FILE "
            "(every /v1 route requires 'Authorization: Bearer <key>')"
        )
    return keys


async def run_service(
    settings: Settings,
    roles: Roles,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Connect, start the requested roles, and run until `stop` is set or SIGINT/SIGTERM arrives."""
    api_keys = required_api_keys(settings) if roles.api else []
    runtime, sdk_metrics_url = sdk_runtime()
    client = await connect(settings, runtime=runtime)
    await ensure_search_attributes(client, settings.temporal_namespace)
    cache = IncidentCache(settings.redis_url)
    if not await cache.ping():
        log.warning("Redis at REDIS_URL is not reachable; incident reads will go to Temporal until it is")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    tasks: list[asyncio.Task[None]] = []
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as http:
        worker = build_worker(client, settings, cache, http) if roles.worker else None
        server = None
        if worker is not None:
            tasks.append(asyncio.create_task(worker.run(), name="worker"))
            if not roles.api and settings.metrics_port:
                start_http_server(settings.metrics_port, addr=settings.api_host)
                log.info("worker metrics on http://%s:%d/metrics", settings.api_host, settings.metrics_port)
        if roles.api:
            app = create_app(
                Services(settings, client, cache, AlertIntake(client, cache, settings), sdk_metrics_url), api_keys
            )
            config = uvicorn.Config(
                app, host=settings.api_host, port=settings.api_port, log_config=None, access_log=False
            )
            server = _Server(config)
            tasks.append(asyncio.create_task(server.serve(), name="api"))
        log.info(
            "xorb-orchestrator running (%s) against Temporal %s, task queue %s",
            " + ".join(r for r, on in (("worker", roles.worker), ("api", roles.api)) if on),
            settings.temporal_host,
            settings.temporal_task_queue,
        )
        if server is not None:
            while not server.started and not any(t.done() for t in tasks):
                await asyncio.sleep(0.05)
        if on_ready is not None:
            await on_ready()
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        log.info("stopping")
        if server is not None:
            server.should_exit = True
        if worker is not None:
            await worker.shutdown()
        stopper.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await cache.close()
        for task in done:
            if task is not stopper and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
