"""Guardrails as data: what an effect is (its kind and target), the verdict a guardrail gives right before the call,
the kill switch's state and the blast-radius budgets' use. The decisions are in policy/guardrails.py and
policy/budgets.py; the deployment-wide state lives in GuardrailsWorkflow (workflows/guardrails.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field


class EffectKind(StrEnum):
    """The containment a mutating action makes, in the SOC's words; budgets are set per kind (a case, ticket or
    message is no containment: it has none)."""

    BLOCK = "block"  # an address or network dropped at a firewall
    ISOLATE = "isolate"  # a host cut off its network by the EDR
    DISABLE_ACCOUNT = "disable_account"  # an account suspended or disabled at the IdP
    SIGN_OUT = "sign_out"  # sessions and tokens revoked (one-way)


class TargetKind(StrEnum):
    IP = "ip"
    HOST = "host"
    USER = "user"
    URL = "url"


class GuardrailRule(StrEnum):
    PROTECTED = "protected"  # the target is a protected asset: never touched
    KNOWN_GOOD = "known_good"  # the target is on a known-good list: never touched
    ONE_WAY = "one_way"  # nothing can take it back: a person approves it
    PAUSED = "paused"  # the kill switch is on: no new autonomous effect
    BUDGET = "budget"  # the blast-radius budget is spent: a person approves each more


class Budget(BaseModel):
    """At most `limit` effects per `window`: of every kind (`all`), of one effect kind, or on one target kind."""

    scope: Literal["all", "effect", "target"]
    name: str = Field(max_length=40, description="`all`, an effect kind or a target kind")
    limit: int = Field(ge=0, le=100_000)
    window: timedelta

    def label(self) -> str:
        what = (
            "effects"
            if self.scope == "all"
            else f"{self.name} effects"
            if self.scope == "effect"
            else f"effects on a {self.name}"
        )
        return f"{self.limit} {what} per {_span(self.window)}"


class BudgetUse(BaseModel):
    budget: Budget
    used: int = Field(ge=0, description="effects counted in the window now (approved ones over the limit included)")


class EffectClaim(BaseModel):
    """An effect about to be made, claimed from GuardrailsWorkflow right before the call."""

    key: str = Field(max_length=600, description="the step instance's key: a repeat of the step claims once")
    action: str = Field(max_length=100)
    incident_id: str = Field(max_length=200)
    effect: EffectKind | None = None  # None: a mutating call that is no containment (only the kill switch applies)
    target_kind: TargetKind | None = None
    target: str = Field("", max_length=300)
    approved_by: list[str] = Field(default_factory=list, max_length=20, description="people who approved this call")
    budgets: list[Budget] = Field(default_factory=list, max_length=50, description="the caller's XORB_BUDGETS")


class GuardrailVerdict(BaseModel):
    outcome: Literal["allow", "hold", "refuse"]
    rule: GuardrailRule | None = None
    reason: str = Field("", max_length=1000)
    budget: BudgetUse | None = None
    approved_by: list[str] = Field(default_factory=list, description="the people whose approval let it through")
    # A hold: who may decide it, and by when (then it is denied) — the deployment's XORB_GUARDRAIL_* settings.
    approvers: list[str] = Field(default_factory=list, max_length=20)
    decide_within: timedelta | None = None


class AutonomyState(BaseModel):
    """The kill switch: while paused, no new autonomous effect starts anywhere in the deployment."""

    paused: bool = False
    by: str | None = None
    at: datetime | None = None
    reason: str = ""


class PauseRequest(BaseModel):
    by: str = Field(min_length=1, max_length=200)
    reason: str = Field("", max_length=1000)


class GuardrailsState(BaseModel):
    """What `xorb autonomy status` and GET /v1/autonomy show."""

    autonomy: AutonomyState
    budgets: list[BudgetUse] = Field(default_factory=list)
    holds: int = Field(0, description="effects held for a person since the workflow's last continue-as-new")


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class LedgerEntry(BaseModel):
    """One effect counted against the budgets."""

    at: datetime
    key: str = Field(max_length=600)
    effect: str | None = None
    target_kind: str | None = None


class GuardrailsInput(BaseModel):
    """GuardrailsWorkflow's state, carried across continue-as-new."""

    autonomy: AutonomyState = Field(default_factory=AutonomyState)
    ledger: list[LedgerEntry] = Field(default_factory=list, max_length=5_000)
    budgets: list[Budget] = Field(default_factory=list, description="the budgets last claimed with, for the status")
    holds: int = 0
