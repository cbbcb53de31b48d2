"""Enrich an incident and decide its response: the work behind the `incident.enrich` and `incident.plan`
activities, and behind `xorb plan explain` (the same answer for an alert, without running anything).

Enrichment reads the asset inventory and the indicator store (one batch lookup for all observables); planning
asks the response policy and turns its decision into a plan (policy/planning.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.infrastructure.indicator_store import IndicatorStore, IndicatorStoreError
from xorb_orchestrator.infrastructure.intel_files import AssetsFile
from xorb_orchestrator.intel.feeds_config import FeedsConfig
from xorb_orchestrator.intel.observables import indicator_of
from xorb_orchestrator.models.enrichment import Enrichment
from xorb_orchestrator.models.observable import Observable
from xorb_orchestrator.models.plan import Plan
from xorb_orchestrator.models.response_plan import PlaybookCandidate, PolicyFacts, PolicyObservable
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.models.verdict import Verdict
from xorb_orchestrator.models.workflow_io import PlanInput
from xorb_orchestrator.playbook.actions import ActionCatalog
from xorb_orchestrator.playbook.catalog import load_usable
from xorb_orchestrator.policy.enrichment import enrich
from xorb_orchestrator.policy.planning import plan_from_decision
from xorb_orchestrator.policy.playbook_selection import candidates
from xorb_orchestrator.policy.response_policy import ResponsePolicy, decide

log = logging.getLogger(__name__)

# A lookup that takes longer is abandoned: the incident is planned without verdicts (and so never acts on its own).
LOOKUP_TIMEOUT_SECONDS = 5.0


class Enricher:
    def __init__(self, indicators: IndicatorStore, feeds: FeedsConfig, assets: AssetsFile) -> None:
        self._indicators = indicators
        self._feeds = feeds
        self._assets = assets

    async def enrich(self, observables: Sequence[Observable]) -> Enrichment:
        """Each observable's asset context and TI verdict. Without the store, no verdicts, and a note says so."""
        inventory = await asyncio.to_thread(self._assets.current) if self._assets.watched else self._assets.current()
        notes = [self._assets.problem] if self._assets.problem else []
        wanted = [(index, pair) for index, obs in enumerate(observables) if (pair := indicator_of(obs))]
        verdicts: list[Verdict | None] = [None] * len(observables)
        if wanted:
            try:
                found = await asyncio.wait_for(
                    self._indicators.lookup(
                        [pair for _, pair in wanted], datetime.now(UTC), lifetimes=self._feeds.lifetimes
                    ),
                    LOOKUP_TIMEOUT_SECONDS,
                )
            except (IndicatorStoreError, TimeoutError) as exc:
                notes.append(f"threat intelligence unavailable, no verdicts: {exc or 'the lookup timed out'}")
            else:
                metrics.TI_LOOKUPS.inc(len(wanted))
                for (index, _), verdict in zip(wanted, found, strict=True):
                    verdicts[index] = verdict
                    for finding in verdict.sources if verdict.hit else []:
                        if finding.live and not finding.verdict.known_good:
                            metrics.TI_HITS.labels(finding.verdict.source).inc()
        return enrich(observables, inventory, verdicts, notes)


class Planner:
    def __init__(
        self,
        settings: Settings,
        actions: ActionCatalog,
        policy: ResponsePolicy,
        connected: frozenset[str] | None = None,
    ) -> None:
        self._settings = settings
        self._actions = actions
        self._policy = policy
        self._connected = connected  # connector types with a connection (None: not checked)
        self._connectors = {spec.name: spec.connector for spec in actions.specs() if spec.connector}
        self._reported: set[str] = set()  # playbook file problems already logged (once each, not per incident)

    async def plan(self, request: PlanInput) -> Plan:
        """The response policy's decision, and the plan it calls for: its playbook pinned into the plan (content,
        hash, inputs from the decision's targets), else the built-in notify plan carrying the decision."""
        flags = self._actions.flags()
        catalog, problems = await asyncio.to_thread(load_usable, self._settings.playbooks_dir, flags)
        for problem in problems:
            if problem not in self._reported:
                self._reported.add(problem)
                log.warning("playbook left out of planning: %s", problem)
        playbooks = catalog.playbooks()
        facts = PolicyFacts(
            severity=Severity(request.severity_id),
            techniques=request.techniques[:100],
            candidates=[
                PlaybookCandidate(id=m.playbook.id, tags=m.playbook.tags[:50])
                for m in candidates(request.techniques, playbooks)[:100]
            ],
            observables=[
                PolicyObservable(
                    type=obs.type, value=obs.value, role=obs.role, asset=known.asset, verdict=known.verdict
                )
                for obs, known in zip(request.observables, request.enrichment.observables, strict=False)
                if known.asset is not None
            ][:1000],
        )
        decision = decide(self._policy, facts, datetime.now(UTC))
        metrics.PLANS.labels(decision.autonomy.value).inc()
        return plan_from_decision(
            request,
            self._settings.webhook_urls,
            decision,
            playbooks,
            self._settings.configured_playbook_inputs,
            allowed=self._settings.auto_playbook_ids,
            mutating_actions=self._actions.mutating(),
            connectors=self._connectors,
            connected=self._connected,
        )
