"""An incident's enrichment and plan, read-only work done by activities before the response: one activity
(`incident.assess`, the enrich-and-plan patch; in new executions beside the slot claim, see slots.py),
`incident.enrich` then `incident.plan` in histories from before it."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.activities.incident import IncidentActivities
    from xorb_orchestrator.models.enrichment import Enrichment
    from xorb_orchestrator.models.incident import IncidentView
    from xorb_orchestrator.models.plan import Plan
    from xorb_orchestrator.models.workflow_io import AssessInput, EnrichInput, PlanInput
    from xorb_orchestrator.workflows import patches, policies


async def assess(view: IncidentView) -> tuple[Enrichment, Plan]:
    """The incident's enrichment and plan: one activity (new executions), or two in a row (replaying ones)."""
    if workflow.patched(patches.ENRICH_AND_PLAN.id):
        return await assess_in_one(view)
    enrichment = await workflow.execute_activity_method(
        IncidentActivities.enrich_incident,
        EnrichInput(incident_id=view.incident_id, observables=view.observables),
        start_to_close_timeout=policies.BOOKKEEPING_TIMEOUT,
        retry_policy=policies.BOOKKEEPING_RETRY,
    )
    plan = await workflow.execute_activity_method(
        IncidentActivities.plan_incident,
        PlanInput(
            incident_id=view.incident_id,
            title=view.title,
            severity_id=view.severity_id,
            observables=view.observables,
            techniques=view.techniques,
            enrichment=enrichment,
        ),
        start_to_close_timeout=policies.BOOKKEEPING_TIMEOUT,
        retry_policy=policies.BOOKKEEPING_RETRY,
    )
    return enrichment, plan


async def assess_in_one(view: IncidentView) -> tuple[Enrichment, Plan]:
    """Enrichment and plan by one activity (`incident.assess`)."""
    facts = AssessInput(incident_id=view.incident_id, title=view.title, severity_id=view.severity_id,
                        observables=view.observables, techniques=view.techniques)  # fmt: skip
    assessed = await workflow.execute_activity_method(
        IncidentActivities.assess_incident,
        facts,
        start_to_close_timeout=policies.BOOKKEEPING_TIMEOUT,
        retry_policy=policies.BOOKKEEPING_RETRY,
    )
    return assessed.enrichment, assessed.plan
