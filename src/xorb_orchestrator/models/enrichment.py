"""What enrichment learned about an incident's observables: whose each is, and what the feeds say of it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from xorb_orchestrator.models.response_plan import AssetContext
from xorb_orchestrator.models.verdict import Verdict

# The strongest findings kept per observable: the view and history carry every observable's verdict.
MAX_ENRICHED_SOURCES = 5


class ObservableFacts(BaseModel):
    type: str
    value: str
    role: str | None = None
    facts: dict[str, str | bool | int] = Field(default_factory=dict)
    asset: AssetContext | None = Field(None, description="ours or not, the inventory entry, criticality, protected")
    verdict: Verdict | None = Field(None, description="the combined TI verdict; null: not a kind feeds list")


class Enrichment(BaseModel):
    observables: list[ObservableFacts] = Field(default_factory=list)
    # Observables outside the organisation (not in XORB_INTERNAL_NETWORKS or the inventory): what a block acts on.
    external: list[str] = Field(default_factory=list)
    internal: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, max_length=10, description="e.g. the indicator store was down")
