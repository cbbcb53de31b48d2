"""The blast-radius budgets' ledger: which effects were made when, and whether one more fits.

Pure and deterministic (the caller passes the time): GuardrailsWorkflow keeps one ledger for the whole deployment,
so two workers cannot both spend the last unit of a budget. An effect is counted once per step instance (a retried
or repeated step claims with the same key), and an effect a person approved over the limit is counted too, so
`used` tells the truth.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from xorb_orchestrator.config.budgets import BudgetSpec
from xorb_orchestrator.models.guardrails import Budget, BudgetUse, EffectClaim, LedgerEntry

MAX_ENTRIES = 5_000  # bounds the workflow's state (and its continue-as-new input)


class BudgetLedger(BaseModel):
    entries: list[LedgerEntry] = Field(default_factory=list, max_length=MAX_ENTRIES)

    def claimed(self, key: str) -> bool:
        return any(entry.key == key for entry in self.entries)

    def over(self, claim: EffectClaim, now: datetime) -> BudgetUse | None:
        """The first budget this effect would exceed, or None when it fits every budget that applies to it."""
        for budget in claim.budgets:
            if not applies(budget, claim.effect, claim.target_kind):
                continue
            used = self._used(budget, now)
            if used >= budget.limit:
                return BudgetUse(budget=budget, used=used)
        return None

    def tightest(self, claim: EffectClaim, now: datetime) -> BudgetUse | None:
        """Of the budgets this effect counts against, the one closest to its limit (for the metrics)."""
        uses = [self.use([b], now)[0] for b in claim.budgets if applies(b, claim.effect, claim.target_kind)]
        return max(uses, key=lambda u: u.used / max(1, u.budget.limit), default=None)

    def record(self, claim: EffectClaim, now: datetime) -> None:
        self.entries.append(LedgerEntry(at=now, key=claim.key, effect=claim.effect, target_kind=claim.target_kind))
        del self.entries[: max(0, len(self.entries) - MAX_ENTRIES)]

    def prune(self, now: datetime, keep: timedelta) -> None:
        """Forget effects older than the longest window any caller uses."""
        self.entries = [entry for entry in self.entries if now - entry.at < keep]

    def use(self, budgets: list[Budget], now: datetime) -> list[BudgetUse]:
        return [BudgetUse(budget=budget, used=self._used(budget, now)) for budget in budgets]

    def _used(self, budget: Budget, now: datetime) -> int:
        return sum(
            1
            for entry in self.entries
            if now - entry.at < budget.window and applies(budget, entry.effect, entry.target_kind)
        )


def applies(budget: Budget, effect: str | None, target_kind: str | None) -> bool:
    """Whether an effect of this kind, on this kind of target, counts against `budget` (a non-containment, with
    no effect kind, counts against none)."""
    if effect is None:
        return False
    if budget.scope == "all":
        return True
    if budget.scope == "effect":
        return budget.name == effect
    return budget.name == target_kind


def budgets_of(specs: list[BudgetSpec]) -> list[Budget]:
    """XORB_BUDGETS as the models a claim carries."""
    return [
        Budget(scope=spec.scope, name=spec.name, limit=spec.limit, window=timedelta(seconds=spec.window_seconds))
        for spec in specs
    ]
