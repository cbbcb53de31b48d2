"""Running playbooks in tests: a real worker (PlaybookWorkflow + the registered actions), playbooks from YAML
text, and polling a run's `state` query."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from tests.support.stack import make_settings
from xorb_orchestrator.activities.actions.catalog import action_activities
from xorb_orchestrator.activities.actions.guard import Guard
from xorb_orchestrator.activities.actions.support import ActionDeps
from xorb_orchestrator.connectors.connections import Connections
from xorb_orchestrator.models.incident import IncidentStatus, IncidentView
from xorb_orchestrator.models.playbook_run import PlaybookRunInput, PlaybookRunResult, PlaybookRunState
from xorb_orchestrator.playbook import Playbook, parse_playbook_text, validate_playbook
from xorb_orchestrator.service import action_catalog, response_actions, workflow_runner
from xorb_orchestrator.workflows.guardrails import GuardrailsWorkflow
from xorb_orchestrator.workflows.playbook.workflow import PlaybookWorkflow


def incident(incident_id: str | None = None, severity: str = "high") -> IncidentView:
    now = datetime.now(UTC)
    return IncidentView(
        incident_id=incident_id or "incident-" + uuid.uuid4().hex[:10],
        correlation_key="k",
        status=IncidentStatus.RUNNING,
        severity=severity,
        severity_id=4,
        title="Beaconing to 203.0.113.7",
        source="ids",
        first_seen=now,
        last_seen=now,
        created_at=now,
        updated_at=now,
    )


def playbook(text: str, catalog: dict[str, Playbook] | None = None) -> Playbook:
    """A playbook from YAML, validated against the registered actions (a test playbook must be valid)."""
    parsed = parse_playbook_text(text, "yaml")
    errors = validate_playbook(parsed, action_catalog().flags(), catalog or {})
    assert not errors, [str(e) for e in errors]
    return parsed


def mutating_actions() -> list[str]:
    return action_catalog().mutating()


@dataclass
class Runner:
    client: Client
    task_queue: str

    async def start(
        self, pb: Playbook, *, inputs: dict[str, Any] | None = None, dry_run: bool = False, **kwargs: Any
    ) -> WorkflowHandle[PlaybookWorkflow, PlaybookRunResult]:
        catalog = kwargs.pop("catalog", None)
        view = kwargs.pop("incident", None) or incident()
        request = PlaybookRunInput.pin(
            pb, incident=view, inputs=inputs, catalog=catalog, dry_run=dry_run, mutating_actions=mutating_actions()
        )
        request = request.model_copy(update=kwargs)
        return await self.client.start_workflow(
            PlaybookWorkflow.run,
            request,
            id=f"playbook-{view.incident_id}-1",
            task_queue=self.task_queue,
        )

    async def run(self, pb: Playbook, **kwargs: Any) -> PlaybookRunResult:
        handle = await self.start(pb, **kwargs)
        return await asyncio.wait_for(handle.result(), timeout=30)


async def state_when(
    handle: WorkflowHandle[Any, Any], check: Callable[[PlaybookRunState], bool], timeout: float = 15
) -> PlaybookRunState:
    """Poll the `state` query until `check` holds."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = await handle.query(PlaybookWorkflow.state)
        if check(state):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"run not as expected; last state: {state}")


@asynccontextmanager
async def playbook_worker(
    client: Client, webhook_url: str, connections: Connections | None = None
) -> AsyncIterator[Runner]:
    """A worker like service.build_worker, on its own task queue: PlaybookWorkflow and every
    registered action (connectors' too, through `connections`), notify.webhook posting to `webhook_url`."""
    settings = make_settings(
        str(client.service_client.config.target_host), "redis://127.0.0.1:1/0", XORB_NOTIFY_WEBHOOK_URLS=webhook_url
    )
    actions = response_actions()
    async with httpx.AsyncClient(timeout=10) as http:
        # The guardrails as in service.action_deps, without the known-good lists (no Redis here).
        restoring = frozenset(action.spec.undo for action in actions if action.spec.undo)
        guard = Guard(settings, client, restoring=restoring)
        deps = ActionDeps(settings, http, connections or Connections(), guard)
        worker = Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=[PlaybookWorkflow, GuardrailsWorkflow],
            workflow_runner=workflow_runner(),
            activities=action_activities(actions, deps),
        )
        async with worker:
            yield Runner(client, settings.temporal_task_queue)


def texts(sink: Any) -> list[str]:
    """The `text` of every message the playbooks sent to the webhook sink, in order (the engine's approval notices
    left out: `notices` has them)."""
    return [text for text in all_texts(sink) if not text.startswith(NOTICE_STARTS)]


def notices(sink: Any) -> list[str]:
    """The approval notices (notify.approval) the sink received, in order."""
    return [text for text in all_texts(sink) if text.startswith(NOTICE_STARTS)]


NOTICE_STARTS = ("Approval needed, ", "Approval of step ")


def all_texts(sink: Any) -> list[str]:
    return [body.get("text", "") for body in sink.bodies() if isinstance(body, dict)]
