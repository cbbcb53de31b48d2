"""Bookkeeping activities of an incident: enrich (asset context, TI verdicts) and plan (the response policy's
decision) — together as `incident.assess`, or apart in histories from before it — and publish its state."""

from __future__ import annotations

from redis.exceptions import RedisError
from temporalio import activity

from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.infrastructure.audit_log import AuditLog, append_or_report
from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.infrastructure.response_planning import Enricher, Planner
from xorb_orchestrator.models.enrichment import Enrichment
from xorb_orchestrator.models.plan import Plan
from xorb_orchestrator.models.workflow_io import AssessInput, Assessment, EnrichInput, PlanInput, PublishInput

_TRANSITION_COUNTERS = {
    "started": metrics.INCIDENTS_STARTED,
    "completed": metrics.INCIDENTS_COMPLETED,
    "failed": metrics.INCIDENTS_FAILED,
}


class IncidentActivities:
    def __init__(
        self, cache: IncidentCache, enricher: Enricher, planner: Planner, audit: AuditLog | None = None
    ) -> None:
        self._cache = cache
        self._enricher = enricher
        self._planner = planner
        self._audit = audit

    @activity.defn(name="incident.enrich")
    async def enrich_incident(self, request: EnrichInput) -> Enrichment:
        """Each observable's asset context and TI verdict: one batch lookup for the whole incident."""
        return await self._enricher.enrich(request.observables)

    @activity.defn(name="incident.assess")
    async def assess_incident(self, request: AssessInput) -> Assessment:
        """Enrich, then plan on that enrichment: one activity and one workflow task fewer before the response
        starts than `incident.enrich` then `incident.plan` (both read-only, so retrying the pair is safe)."""
        enrichment = await self._enricher.enrich(request.observables)
        plan = await self._plan(PlanInput(**request.model_dump(), enrichment=enrichment))
        return Assessment(enrichment=enrichment, plan=plan)

    @activity.defn(name="incident.plan")
    async def plan_incident(self, request: PlanInput) -> Plan:
        """The response policy's decision and the plan it calls for (infrastructure/response_planning.py), audited."""
        return await self._plan(request)

    async def _plan(self, request: PlanInput) -> Plan:
        plan = await self._planner.plan(request)
        decision = plan.decision
        if self._audit is not None:
            detail = {
                "playbook": plan.playbook,
                "rationale": plan.rationale[:4000],
                "playbook_sha256": plan.playbook_sha256,
                "rule": decision.rule if decision else None,
                "autonomy": decision.autonomy.value if decision else None,
                "targets": [t.value for t in decision.targets][:50] if decision else [],
            }
            await append_or_report(self._audit, "plan", "policy", request.incident_id, detail, request.incident_id)
        return plan

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
