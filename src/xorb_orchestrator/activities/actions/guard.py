"""Guardrails checked inside an action's activity, right before the call — so no playbook, policy, API path or
retry can go around them. In this order:

1. never (refused, not retried, no approval lifts it): a target that is a protected asset, reaches one (a block of
   a range holding a protected address), never leaves its host, or is on a known-good list;
2. a one-way containment (nothing can take it back) without a person's approval of this very call: held;
3. the deployment's GuardrailsWorkflow (one Update, which starts it if needed): the kill switch holds every new
   autonomous effect; a spent budget holds the effect; otherwise it is counted and allowed.

Undo calls (compensations, a containment ending), actions that restore (unblock, lift, unsuspend) and messages to
people (notify, chat) are never held: they take risk away or tell people about it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.infrastructure.audit_log import AuditLog, append_or_report
from xorb_orchestrator.infrastructure.indicator_store import IndicatorStore, IndicatorStoreError
from xorb_orchestrator.infrastructure.intel_files import AssetsFile
from xorb_orchestrator.models.guardrails import (
    EffectClaim,
    EffectKind,
    GuardrailRule,
    GuardrailsInput,
    GuardrailVerdict,
    TargetKind,
)
from xorb_orchestrator.models.ids import guardrails_id
from xorb_orchestrator.models.verdict import IndicatorKind
from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult
from xorb_orchestrator.models.workflow_names import CLAIM_EFFECT, GUARDRAILS_WORKFLOW
from xorb_orchestrator.playbook.actions import ActionArgs, ActionSpec
from xorb_orchestrator.policy.budgets import budgets_of
from xorb_orchestrator.policy.guardrails import known_good_refusal, target_refusal

ALLOW = GuardrailVerdict(outcome="allow")
# Claims in flight from one worker at a time: Temporal takes at most 10 concurrent Updates per workflow (more are
# refused with ResourceExhausted and retried), so a storm on two or three workers stays under it.
CLAIMS_IN_FLIGHT = 4


class Guard:
    """One per worker. `client` None: no deployment-wide state (kill switch, budgets) — unit tests only."""

    def __init__(
        self,
        settings: Settings,
        client: Client | None,
        assets: AssetsFile | None = None,
        indicators: IndicatorStore | None = None,
        restoring: frozenset[str] = frozenset(),
        audit: AuditLog | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        self._assets = assets or AssetsFile(settings)
        self._indicators = indicators
        self._restoring = restoring  # actions that are another's undo
        self._audit = audit
        self._budgets = budgets_of(settings.budget_specs)
        self._claims: asyncio.Semaphore | None = None  # made on first use, in the worker's event loop

    async def check(self, spec: ActionSpec[Any], args: ActionArgs, request: ActionInput) -> GuardrailVerdict:
        """The verdict for this call: allow or hold; a refusal is raised (non-retryable ApplicationError)."""
        if request.undo or spec.informs or spec.name in self._restoring or not spec.mutates(args):
            return ALLOW
        target = str(getattr(args, spec.target)) if spec.target else ""
        if spec.target_kind and target:
            refusal = target_refusal(spec.target_kind, target, self._assets.current())
            refusal = refusal or known_good_refusal(spec.target_kind, target, await self._known_good(spec, target))
            if refusal is not None:
                metrics.GUARDRAIL_VERDICTS.labels("refuse", refusal.rule or "").inc()
                await self.record(refusal, spec, target, request)
                raise ApplicationError(
                    f"guardrail: {refusal.reason}; never acted on", refusal.model_dump(mode="json"),
                    type="GuardrailRefused", non_retryable=True,
                )  # fmt: skip
        people = [name for name in request.approved_by if name]
        # A one-way containment (sessions revoked): nothing takes it back. A ticket or case is one-way too, but
        # contains nothing: it is not held.
        if spec.one_way and spec.effect and not people:
            one_way = GuardrailVerdict(
                outcome="hold",
                rule=GuardrailRule.ONE_WAY,
                reason=f"{spec.name} is one-way (nothing can take it back): a person approves it",
            )
            await self.record(one_way, spec, target, request)
            return self._hold(one_way)
        if self._client is None:
            return ALLOW
        claim = EffectClaim(
            key=request.step.id,
            action=spec.name,
            incident_id=request.incident_id,
            effect=EffectKind(spec.effect) if spec.effect else None,
            target_kind=TargetKind(spec.target_kind) if spec.target_kind else None,
            target=target[:300],
            approved_by=people,
            budgets=self._budgets,
        )
        verdict = await self._claim(claim)
        if verdict.budget is not None:
            metrics.BUDGET_USED.labels(verdict.budget.budget.label()).set(verdict.budget.used)
        if spec.effect or verdict.outcome != "allow":  # every containment's verdict, and every hold
            await self.record(verdict, spec, target, request)
        return self._hold(verdict) if verdict.outcome == "hold" else verdict

    async def record(self, verdict: GuardrailVerdict, spec: ActionSpec[Any], target: str, request: ActionInput) -> None:
        """Append the verdict to the audit log (best effort: see append_or_report)."""
        detail = {"action": spec.name, "target": target[:300], **verdict.model_dump(mode="json", exclude_none=True)}
        await append_or_report(self._audit, "guardrail", _actor(request), request.step.id, detail, request.incident_id)

    async def record_effect(self, spec: ActionSpec[Any], receipt: dict[str, Any], request: ActionInput) -> None:
        """Append what was done, with its receipt (best effort: see append_or_report)."""
        detail = {"action": spec.name, "receipt": receipt}
        await append_or_report(self._audit, "effect", _actor(request), request.step.id, detail, request.incident_id)

    def _hold(self, verdict: GuardrailVerdict) -> GuardrailVerdict:
        metrics.GUARDRAIL_VERDICTS.labels("hold", verdict.rule or "").inc()
        return verdict.model_copy(
            update={
                "approvers": self._settings.guardrail_approver_roles,
                "decide_within": timedelta(seconds=self._settings.guardrail_approval_timeout_seconds),
            }
        )

    async def _claim(self, claim: EffectClaim) -> GuardrailVerdict:
        assert self._client is not None
        queue = self._settings.temporal_task_queue
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            GUARDRAILS_WORKFLOW,  # by name: activities sit below workflows/ in the layers
            GuardrailsInput(),
            id=guardrails_id(queue),
            task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        self._claims = self._claims or asyncio.Semaphore(CLAIMS_IN_FLIGHT)
        try:
            async with self._claims:
                verdict: GuardrailVerdict = await self._client.execute_update_with_start_workflow(
                    CLAIM_EFFECT, claim, start_workflow_operation=start, result_type=GuardrailVerdict
                )
        except RPCError as exc:
            # Without the deployment's kill switch and budgets nothing is made: the step tries again.
            raise ApplicationError(
                f"guardrails unreachable ({exc.message}); not acted on", type="GuardrailsUnavailable"
            ) from None
        return verdict

    async def _known_good(self, spec: ActionSpec[Any], target: str) -> list[str]:
        """The known-good sources naming the target (ip and url targets; feeds hold no hosts or accounts)."""
        kind = _indicator_kind(spec.target_kind, target)
        if kind is None or self._indicators is None:
            return []
        try:
            [verdict] = await self._indicators.lookup([(kind, target)], datetime.now(UTC))
        except IndicatorStoreError as exc:
            raise ApplicationError(
                f"known-good lists unreachable ({exc}); not acted on", type="GuardrailsUnavailable"
            ) from None
        if not verdict.known_good:
            return []
        return [f.verdict.source for f in verdict.sources if f.verdict.known_good] or ["a known-good list"]


def _indicator_kind(target_kind: str | None, target: str) -> IndicatorKind | None:
    if target_kind == "url":
        return IndicatorKind.URL
    if target_kind == "ip":
        return IndicatorKind.IPV6 if ":" in target else IndicatorKind.IPV4
    return None


async def held(
    guard: Guard | None, spec: ActionSpec[Any], args: ActionArgs, request: ActionInput
) -> ActionResult | None:
    """The `held` result when a guardrail holds this call for a person (None: make the call)."""
    if guard is None:
        return None
    verdict = await guard.check(spec, args, request)
    if verdict.outcome != "hold":
        return None
    details = {"guardrail": verdict.model_dump(mode="json")}
    return ActionResult(outcome="held", reason=verdict.reason, attempt=activity.info().attempt, details=details)


def _actor(request: ActionInput) -> str:
    """Who the effect is on behalf of: the people who approved this call, else the orchestrator on its own."""
    return ", ".join(request.approved_by) or ("undo" if request.undo else "autonomous")
