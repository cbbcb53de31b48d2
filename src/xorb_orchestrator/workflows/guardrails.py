"""GuardrailsWorkflow: the deployment-wide kill switch and blast-radius budgets, held in Temporal.

One long-lived workflow per deployment (id `xorb-guardrails-<task queue>`). Right before a mutating call, the
action's activity claims the effect with the `claim` Update (update-with-start, so the first claim starts it):
Temporal runs Updates of one workflow one at a time, so two workers can never both spend the last unit of a
budget, and a pause is seen by the very next claim anywhere. The verdict is the workflow's answer:

- paused: hold (a person may approve the call; without a person's approval nothing new starts);
- over a budget: hold, unless a person approved this call (then it runs and is counted);
- otherwise: allow, counted against every budget that applies (once per step instance: a retry claims again
  with the same key and is allowed without being counted twice).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.models.guardrails import (
        AutonomyState,
        Budget,
        EffectClaim,
        GuardrailRule,
        GuardrailsInput,
        GuardrailsState,
        GuardrailVerdict,
        PauseRequest,
    )
    from xorb_orchestrator.models.workflow_names import (
        CLAIM_EFFECT,
        GUARDRAILS_QUERY,
        GUARDRAILS_WORKFLOW,
        PAUSE_AUTONOMY,
        RESUME_AUTONOMY,
    )
    from xorb_orchestrator.policy.budgets import BudgetLedger
    from xorb_orchestrator.workflows.waiting import wait_until

HISTORY_LIMIT = 5_000
LONGEST_WINDOW = timedelta(days=7)  # XORB_BUDGETS allows no longer window


@workflow.defn(name=GUARDRAILS_WORKFLOW)
class GuardrailsWorkflow:
    @workflow.init
    def __init__(self, state: GuardrailsInput) -> None:
        self._autonomy = state.autonomy
        self._ledger = BudgetLedger(entries=list(state.ledger))
        self._budgets: list[Budget] = list(state.budgets)
        self._holds = state.holds

    @workflow.update(name=CLAIM_EFFECT)
    def claim(self, claim: EffectClaim) -> GuardrailVerdict:
        now = workflow.now()
        if claim.budgets:
            self._budgets = list(claim.budgets)
        people = [name for name in claim.approved_by if name]
        if self._autonomy.paused and not people:
            self._holds += 1
            since = f" since {self._autonomy.at:%Y-%m-%d %H:%M:%S}Z" if self._autonomy.at else ""
            why = f": {self._autonomy.reason}" if self._autonomy.reason else ""
            return GuardrailVerdict(
                outcome="hold",
                rule=GuardrailRule.PAUSED,
                reason=f"autonomy is paused by {self._autonomy.by}{since}{why}",
            )
        if claim.effect is None or self._ledger.claimed(claim.key):
            return GuardrailVerdict(outcome="allow", approved_by=people)
        over = self._ledger.over(claim, now)
        if over is not None and not people:
            self._holds += 1
            return GuardrailVerdict(
                outcome="hold",
                rule=GuardrailRule.BUDGET,
                reason=f"over budget: {over.used} of {over.budget.label()} already made",
                budget=over,
            )
        self._ledger.record(claim, now)
        return GuardrailVerdict(outcome="allow", approved_by=people, budget=over or self._ledger.tightest(claim, now))

    @workflow.update(name=PAUSE_AUTONOMY)
    def pause(self, request: PauseRequest) -> AutonomyState:
        if not self._autonomy.paused:  # the first pause says who and why; a repeat changes nothing
            self._autonomy = AutonomyState(paused=True, by=request.by, at=workflow.now(), reason=request.reason)
        return self._autonomy

    @workflow.update(name=RESUME_AUTONOMY)
    def resume(self, request: PauseRequest) -> AutonomyState:
        self._autonomy = AutonomyState(paused=False, by=request.by, at=workflow.now(), reason=request.reason)
        return self._autonomy

    @workflow.query(name=GUARDRAILS_QUERY)
    def state(self) -> GuardrailsState:
        return GuardrailsState(
            autonomy=self._autonomy, budgets=self._ledger.use(self._budgets, workflow.now()), holds=self._holds
        )

    @workflow.run
    async def run(self, state: GuardrailsInput) -> None:
        while True:
            # Woken only to forget old effects and to keep the history short: the state changes in the Updates.
            await wait_until(_history_long, timedelta(hours=1))
            self._ledger.prune(workflow.now(), LONGEST_WINDOW)
            if _history_long():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    GuardrailsInput(
                        autonomy=self._autonomy, ledger=self._ledger.entries, budgets=self._budgets, holds=self._holds
                    )
                )


def _history_long() -> bool:
    info = workflow.info()
    return info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT
