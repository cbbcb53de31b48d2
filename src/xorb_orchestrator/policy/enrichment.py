"""Enrichment as data: each observable with what the asset inventory and the threat intelligence say. Pure: the
activity (activities/incident.py) reads the inventory file and the indicator store and passes what they said."""

from __future__ import annotations

from collections.abc import Sequence

from xorb_orchestrator.models.enrichment import MAX_ENRICHED_SOURCES, Enrichment, ObservableFacts
from xorb_orchestrator.models.observable import Observable
from xorb_orchestrator.models.response_plan import Scope
from xorb_orchestrator.models.verdict import Verdict
from xorb_orchestrator.policy.assets import AssetInventory


def enrich(
    observables: Sequence[Observable],
    inventory: AssetInventory,
    verdicts: Sequence[Verdict | None] = (),
    notes: Sequence[str] = (),
) -> Enrichment:
    """Each observable's asset context and verdict (`verdicts` in the same order; None: not looked up). The
    lists `external` and `internal` say which side each is on, from the deployment's networks and inventory."""
    result = Enrichment(notes=list(notes))
    padded = list(verdicts) + [None] * (len(observables) - len(verdicts))
    for obs, verdict in zip(observables, padded, strict=True):
        asset = inventory.context(obs)
        shown = verdict.model_copy(update={"sources": verdict.sources[:MAX_ENRICHED_SOURCES]}) if verdict else None
        facts: dict[str, str | bool | int] = {"scope": asset.scope.value, "external": asset.scope is Scope.EXTERNAL}
        if obs.role:
            facts["role"] = obs.role
        result.observables.append(
            ObservableFacts(type=obs.type, value=obs.value, role=obs.role, facts=facts, asset=asset, verdict=shown)
        )
        if asset.scope is Scope.EXTERNAL:
            result.external.append(f"{obs.type}:{obs.value}")
        elif asset.scope is Scope.INTERNAL:
            result.internal.append(f"{obs.type}:{obs.value}")
    return result
