"""The response policy's facts and decision as data.

Facts: what enrichment learned about an incident (its observables with their asset context and TI verdict, and
the playbooks that could answer it). Decision: the rule that matched, what to act on and how autonomously, and
everything passed over and why. Workflows carry both in history, so every list is bounded.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field

from xorb_orchestrator.models.observable import ObservableType
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.models.verdict import Verdict
from xorb_orchestrator.playbook.durations import Duration

MAX_FACT_OBSERVABLES = 1000
MAX_CANDIDATES = 100
MAX_TARGETS = 100
MAX_EVIDENCE = 5  # sources shown per target: the strongest ones
MAX_RULES_PASSED_OVER = 200
MAX_OBSERVABLES_PASSED_OVER = 200
MAX_NOTES = 20
MAX_TAGS = 50

OnTimeout = Literal["deny", "approve"]


class Criticality(StrEnum):
    """How much an asset matters to the business; ordered."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Criticality).index(self)


class Scope(StrEnum):
    """Where an observable sits. `local` addresses (loopback, link-local, multicast, unspecified, reserved) never
    leave a host or link: never ours, never a target. `unknown`: a host or user not in the inventory, a hash."""

    INTERNAL = "internal"
    EXTERNAL = "external"
    LOCAL = "local"
    UNKNOWN = "unknown"


class AssetContext(BaseModel):
    """What the asset inventory says about one observable. `matched` names the entry that decided it."""

    model_config = ConfigDict(frozen=True)

    scope: Scope = Scope.UNKNOWN
    asset: str | None = Field(None, max_length=200)
    owner: str | None = Field(None, max_length=200)
    criticality: Criticality | None = None
    protected: bool = False
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
    matched: str | None = Field(None, max_length=300, description="e.g. ip 10.0.0.0/24, host *.corp.example")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ours(self) -> bool:
        return self.scope is Scope.INTERNAL


class Autonomy(StrEnum):
    """How far the orchestrator goes on its own: record only, propose, run after approval, run."""

    OBSERVE = "observe"
    RECOMMEND = "recommend"
    APPROVE = "approve"
    AUTO = "auto"


class PlaybookCandidate(BaseModel):
    """A playbook that could answer the incident (technique selection), by id and tags."""

    id: str = Field(max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=MAX_TAGS)


class PolicyObservable(BaseModel):
    """One observable as the policy sees it."""

    type: ObservableType
    value: str = Field(max_length=8192)
    role: str | None = Field(None, max_length=64)
    asset: AssetContext = Field(default_factory=AssetContext)
    verdict: Verdict | None = None

    @property
    def label(self) -> str:
        role = f" ({self.role})" if self.role else ""
        return f"{self.type.value} {self.value[:200]}{role}"


class PolicyFacts(BaseModel):
    """Everything `decide` needs about one incident."""

    severity: Severity
    techniques: list[str] = Field(default_factory=list, max_length=100)
    candidates: list[PlaybookCandidate] = Field(default_factory=list, max_length=MAX_CANDIDATES)
    observables: list[PolicyObservable] = Field(default_factory=list, max_length=MAX_FACT_OBSERVABLES)


class SourceEvidence(BaseModel):
    """One source's finding behind a target, for the explanation."""

    source: str
    matched: str
    live: bool
    score: int
    score_now: int
    confidence: int
    age_days: float | None = None
    expires_at: datetime | None = None
    why_not_live: str | None = None


class TargetChoice(BaseModel):
    """An observable the response acts on, and the evidence for it."""

    type: ObservableType
    value: str
    role: str | None = None
    scope: Scope
    asset: str | None = None
    criticality: Criticality | None = None
    live_hit: bool = Field(description="a live TI hit at decision time (auto needs one on every target)")
    score: int | None = None
    confidence: int | None = None
    expires_at: datetime | None = Field(None, description="when the verdict's last live bad finding expires")
    evidence: list[SourceEvidence] = Field(default_factory=list, max_length=MAX_EVIDENCE)


class Exclusion(StrEnum):
    """Why an observable is not a target. The first three are invariants, whatever the policy says."""

    KNOWN_GOOD = "known_good"
    PROTECTED = "protected"
    LOCAL = "local"
    NO_LIVE_VERDICT = "no_live_verdict"
    OURS = "ours"  # the rule acts on external observables only
    NOT_OURS = "not_ours"  # the rule acts on our own hosts only
    CONDITION = "condition"  # another of the rule's target conditions
    LIMIT = "limit"  # over the rule's max_targets


class PassedOverObservable(BaseModel):
    type: ObservableType
    value: str = Field(max_length=300)
    role: str | None = None
    exclusion: Exclusion
    reason: str = Field(max_length=500)


class PassedOverRule(BaseModel):
    rule: str
    reason: str = Field(max_length=1000, description="the first condition that failed")


class PolicyDecision(BaseModel):
    """What the response policy decided for an incident, and why. `summary` is the one-paragraph explanation."""

    policy: str = Field(description="the policy's name")
    policy_sha256: str = Field(description="hash of the policy text that decided")
    rule: str | None = Field(None, description="the rule that matched; null when none did (observe)")
    autonomy: Autonomy = Autonomy.OBSERVE
    playbook: str | None = Field(None, description="the playbook to run or recommend; null: none")
    targets: list[TargetChoice] = Field(default_factory=list, max_length=MAX_TARGETS)
    deadline: Duration | None = Field(None, description="approve: how long the approvers have")
    on_timeout: OnTimeout | None = Field(None, description="approve: what no answer means")
    duration: Duration | None = Field(None, description="containment duration, capped by the verdicts' validity")
    duration_capped_by: str | None = Field(None, max_length=500)
    rules_passed_over: list[PassedOverRule] = Field(default_factory=list, max_length=MAX_RULES_PASSED_OVER)
    observables_passed_over: list[PassedOverObservable] = Field(
        default_factory=list, max_length=MAX_OBSERVABLES_PASSED_OVER
    )
    more_passed_over: int = Field(0, description="observables passed over beyond the list's bound")
    notes: list[str] = Field(
        default_factory=list, max_length=MAX_NOTES, description="where an invariant overrode the rule"
    )
    summary: str = Field("", max_length=4000)
