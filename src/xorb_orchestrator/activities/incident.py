"""Bookkeeping activities of an incident: enrich, plan, publish its state to the cache."""

from __future__ import annotations

import asyncio

from redis.exceptions import RedisError
from temporalio import activity

from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.models.enrichment import Enrichment
from xorb_orchestrator.models.plan import Plan
from xorb_orchestrator.models.workflow_io import EnrichInput, PlanInput, PublishInput
from xorb_orchestrator.playbook.actions import ActionCatalog
from xorb_orchestrator.playbook.catalog import load_usable
from xorb_orchestrator.policy.enrichment import enrich
from xorb_orchestrator.policy.planning import plan_response
from xorb_orchestrator.policy.playbook_selection import choose_playbook

_TRANSITION_COUNTERS = {
    "started": metrics.INCIDENTS_STARTED,
    "completed": metrics.INCIDENTS_COMPLETED,
    "failed": metrics.INCIDENTS_FAILED,
}


class IncidentActivities:
    def __init__(self, settings: Settings, cache: IncidentCache, actions: ActionCatalog) -> None:
        self._settings = settings
        self._cache = cache
        self._actions = actions
        self._reported: set[str] = set()  # playbook file problems already logged (once each, not per incident)

    @activity.defn(name="incident.enrich")
    async def enrich_incident(self, request: EnrichInput) -> Enrichment:
        return enrich(request.observables)

    @activity.defn(name="incident.plan")
    async def plan_incident(self, request: PlanInput) -> Plan:
        """The selected playbook pinned into the plan (content, hash, inputs), else the built-in notify plan."""
        catalog, problems = await asyncio.to_thread(load_usable, self._settings.playbooks_dir, self._actions.flags())
        for problem in problems:
            if problem not in self._reported:
                self._reported.add(problem)
                activity.logger.warning("playbook left out of planning: %s", problem)
        selection = choose_playbook(
            request.techniques,
            request.observables,
            catalog.playbooks(),
            self._settings.configured_playbook_inputs,
            allowed=self._settings.auto_playbook_ids,
            mutating_actions=self._actions.mutating(),
        )
        return plan_response(request, self._settings.webhook_urls, selection)

    @activity.defn(name="incident.publish")
    async def publish_incident(self, request: PublishInput) -> bool:
        """Write the incident's view to the cache; count its transition once (on the first attempt)."""
        if request.transition and activity.info().attempt == 1:
            _TRANSITION_COUNTERS[request.transition].inc()
            run = request.incident.playbook_run
            if request.transition != "started" and run is not None:
                metrics.PLAYBOOK_RUNS.labels(run.playbook_id, run.status.value).inc()
                for undo in run.compensations:
                    metrics.COMPENSATIONS.labels(undo.status).inc()
        try:
            return await self._cache.put(request.incident)
        except RedisError as exc:
            # Retryable: Temporal retries a few times; the workflow then carries on without the cache.
            raise RuntimeError(f"incident cache unavailable: {exc}") from None
