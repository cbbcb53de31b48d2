"""The composition root: builds settings' clients, the action catalog, the worker and the API, and runs them
until told to stop. The only module that knows every component; nothing imports it but the CLI (and tests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import uvicorn
from prometheus_client import start_http_server
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from xorb_orchestrator.activities.actions.catalog import action_activities, builtin_actions, catalog_of
from xorb_orchestrator.activities.actions.connector_actions import connector_actions
from xorb_orchestrator.activities.actions.guard import Guard
from xorb_orchestrator.activities.actions.support import ActionDeps, RunnableAction
from xorb_orchestrator.activities.containment import ContainmentActivities
from xorb_orchestrator.activities.incident import IncidentActivities
from xorb_orchestrator.activities.intel.feed_sync import FeedSyncActivities
from xorb_orchestrator.activities.redelivery import RedeliveryActivities
from xorb_orchestrator.activities.slots import SlotActivities
from xorb_orchestrator.api.app import create_app
from xorb_orchestrator.api.deps import Services
from xorb_orchestrator.config import Settings, SettingsError
from xorb_orchestrator.config.api_keys import ApiKeyEntry
from xorb_orchestrator.connectors import CONNECTOR_TYPES, read_connections
from xorb_orchestrator.infrastructure.audit_log import AuditLog
from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.infrastructure.indicator_store import IndicatorStore, IndicatorStoreError
from xorb_orchestrator.infrastructure.intel_files import AssetsFile, read_feeds, read_policy
from xorb_orchestrator.infrastructure.response_planning import Enricher, Planner
from xorb_orchestrator.infrastructure.temporal import connect, ensure_search_attributes, sdk_runtime
from xorb_orchestrator.intel.feeds_config import FeedsConfig
from xorb_orchestrator.playbook.actions import ActionCatalog
from xorb_orchestrator.services import playbook_runs
from xorb_orchestrator.services.feed_syncs import reconcile_schedules
from xorb_orchestrator.services.intake import AlertIntake
from xorb_orchestrator.workflows.containment import ContainmentWorkflow
from xorb_orchestrator.workflows.guardrails import GuardrailsWorkflow
from xorb_orchestrator.workflows.incident.workflow import IncidentWorkflow
from xorb_orchestrator.workflows.intel.feed_sync import FeedSyncWorkflow
from xorb_orchestrator.workflows.playbook.workflow import PlaybookWorkflow
from xorb_orchestrator.workflows.response_slots import ResponseSlotsWorkflow

WORKFLOWS = [
    IncidentWorkflow,
    ResponseSlotsWorkflow,
    PlaybookWorkflow,
    FeedSyncWorkflow,
    ContainmentWorkflow,
    GuardrailsWorkflow,
]
# Libraries the activity modules (which workflows import to call them by method) bring along. Passed through,
# the sandbox never re-imports them: a lazy import of theirs (redis loads submodules on first use) happening
# on another thread during a workflow activation would otherwise be run under the sandbox's restrictions.
SANDBOX_PASSTHROUGH = ("redis", "httpx", "httpcore", "anyio", "h11", "prometheus_client")


def workflow_runner(sandboxed: bool = True) -> WorkflowRunner:
    """Temporal's sandbox for replays and tests (it catches a non-deterministic call in workflow code when it runs);
    a worker runs without it unless XORB_WORKFLOW_SANDBOX is set. Our workflow modules keep no module-level state, so
    sharing them between runs changes nothing else (bench/playbooks.py: built-in plan 13.0 -> 17.8 incidents/s)."""
    if not sandboxed:
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
    )


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


def response_actions() -> list[RunnableAction]:
    """Every action this deployment can run: the built-ins and every connector type's (a connector action runs
    only through a connection of its type in XORB_CONNECTORS_FILE)."""
    return [*builtin_actions(), *connector_actions(CONNECTOR_TYPES)]


def action_catalog(actions: list[RunnableAction] | None = None) -> ActionCatalog:
    """The specs of `actions` (default: response_actions()): what validation, planning and dry runs know."""
    return catalog_of(response_actions() if actions is None else actions)


def build_worker(
    client: Client,
    settings: Settings,
    cache: IncidentCache,
    http: httpx.AsyncClient,
    actions: list[RunnableAction] | None = None,
    *,
    indicators: IndicatorStore | None = None,
    feeds: FeedsConfig | None = None,
    audit: AuditLog | None = None,
) -> Worker:
    """A worker on the configured task queue with all workflows, the bookkeeping activities and `actions`.

    MAX_PARALLEL_WORKFLOWS is enforced deployment-wide by ResponseSlotsWorkflow, not here; the
    activity concurrency below only protects this one process.
    """
    actions = response_actions() if actions is None else actions
    feeds = feeds or read_feeds(settings)
    indicators = indicators or IndicatorStore(settings.redis_url)
    incident = incident_activities(settings, cache, action_catalog(actions), indicators, feeds, audit)
    redelivery = RedeliveryActivities()
    slots = SlotActivities(client, settings)
    containment = ContainmentActivities()
    feed_sync = FeedSyncActivities(feeds, indicators)
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(settings.workflow_sandbox),
        activities=[
            incident.assess_incident,
            incident.enrich_incident,
            incident.plan_incident,
            incident.publish_incident,
            redelivery.recall_deliveries,
            slots.claim_slot,
            slots.request_slot,
            slots.find_closed,
            containment.ended,
            feed_sync.begin_sync,
            feed_sync.sync_page,
            feed_sync.finish_sync,
            feed_sync.record_failure,
            # Every response action: a plan or playbook step names one of these by its registered name.
            *action_activities(actions, action_deps(settings, client, http, actions, indicators, audit)),
        ],
        max_concurrent_activities=100,
        # On SIGTERM, let in-flight actions finish briefly before they are cancelled (and retried elsewhere).
        graceful_shutdown_timeout=timedelta(seconds=5),
        # A workflow task waits this long on the sticky queue of the worker that ran it last before any worker
        # may take it (replaying its history). The SDK's 10 s stalls every workflow a dead worker held — the
        # deployment's GuardrailsWorkflow too, so every claim — for 10 s; a live worker answers in milliseconds.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=4),
        # Workflows kept in memory between tasks (each open incident's, ~300 KiB); an evicted one replays its
        # history on its next task. bench/memory.py: 1,000 open incidents at the default 1,000 -> 452 MiB,
        # at 200 -> 281 MiB but the burst that opened them settled slower (replays).
        max_cached_workflows=settings.max_cached_workflows,
    )


def action_deps(
    settings: Settings,
    client: Client,
    http: httpx.AsyncClient,
    actions: list[RunnableAction],
    indicators: IndicatorStore | None,
    audit: AuditLog | None = None,
) -> ActionDeps:
    """What the actions' activities use: the connections and the guardrails every mutating call passes."""
    restoring = frozenset(action.spec.undo for action in actions if action.spec.undo)
    guard = Guard(settings, client, AssetsFile(settings), indicators, restoring, audit)
    return ActionDeps(settings, http, read_connections(settings), guard)


def incident_activities(
    settings: Settings,
    cache: IncidentCache,
    actions: ActionCatalog,
    indicators: IndicatorStore | None = None,
    feeds: FeedsConfig | None = None,
    audit: AuditLog | None = None,
) -> IncidentActivities:
    """Enrich, plan and publish, with the deployment's inventory, feeds and response policy."""
    feeds = feeds or read_feeds(settings)
    enricher = Enricher(indicators or IndicatorStore(settings.redis_url), feeds, AssetsFile(settings))
    connected = frozenset(c.type for c in read_connections(settings).connections)
    return IncidentActivities(cache, enricher, Planner(settings, actions, read_policy(settings), connected), audit)


async def _schedule_feeds(client: Client, settings: Settings, feeds: FeedsConfig, indicators: IndicatorStore) -> None:
    """One Schedule per configured feed. Redis down only delays removing unconfigured feeds' indicators."""
    try:
        await reconcile_schedules(client, feeds, settings.temporal_task_queue, indicators)
    except IndicatorStoreError as exc:
        log.warning("feed schedules set, but feeds no longer configured could not be cleaned up: %s", exc)
    if feeds.feeds:
        log.info("threat-intelligence feeds scheduled: %s", ", ".join(feed.name for feed in feeds.feeds))


def _check_playbooks(settings: Settings, catalog: ActionCatalog) -> None:
    """Start-up: a broken playbook file is said (the rest serve); a playbook id a setting names that is not in the
    catalog stops start-up — it would otherwise be ignored, silently."""
    for problem in playbook_runs.catalog_problems(settings, catalog):
        log.warning("playbook left out: %s", problem)
    unknown = playbook_runs.unknown_playbook_ids(settings, catalog)
    if unknown:
        raise SettingsError("; ".join(unknown))


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
    feeds = read_feeds(settings)
    read_connections(settings)  # a bad connections file stops the service here, with its one-line reason
    read_policy(settings)  # likewise the policy
    AssetsFile(settings)  # likewise the asset inventory
    actions = response_actions()
    _check_playbooks(settings, action_catalog(actions))
    runtime, sdk_metrics_url = sdk_runtime()
    client = await connect(settings, runtime=runtime)
    await ensure_search_attributes(client, settings.temporal_namespace)
    cache = IncidentCache(settings.redis_url)
    indicators = IndicatorStore(settings.redis_url)
    audit = AuditLog(settings.redis_url, anchor_file=settings.audit_anchor_file)
    if not await cache.ping():
        log.warning("Redis at REDIS_URL is not reachable; incident reads will go to Temporal until it is")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    tasks: list[asyncio.Task[None]] = []
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as http:
        worker = (
            build_worker(client, settings, cache, http, actions, indicators=indicators, feeds=feeds, audit=audit)
            if roles.worker
            else None
        )
        server = None
        if worker is not None:
            await _schedule_feeds(client, settings, feeds, indicators)
            tasks.append(asyncio.create_task(worker.run(), name="worker"))
            if not roles.api and settings.metrics_port:
                start_http_server(settings.metrics_port, addr=settings.api_host)
                log.info("worker metrics on http://%s:%d/metrics", settings.api_host, settings.metrics_port)
        if roles.api:
            intake = AlertIntake(client, cache, settings)
            catalog = action_catalog(actions)
            svc = Services(
                settings,
                client,
                cache,
                intake,
                catalog,
                indicators,
                feeds,
                sdk_metrics_url,
                enricher=Enricher(indicators, feeds, AssetsFile(settings)),
                audit=audit,
                planner=Planner(
                    settings,
                    catalog,
                    read_policy(settings),
                    frozenset(c.type for c in read_connections(settings).connections),
                ),
            )
            app = create_app(svc, api_keys)
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
        await indicators.close()
        await audit.close()
        for task in done:
            if task is not stopper and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
