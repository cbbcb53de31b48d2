"""What enrichment learned about an incident's observables."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ObservableFacts(BaseModel):
    type: str
    value: str
    facts: dict[str, str | bool | int] = Field(default_factory=dict)


class Enrichment(BaseModel):
    observables: list[ObservableFacts] = Field(default_factory=list)
    # Observables that point outside the organisation (public IPs, external domains): what to act on.
    external: list[str] = Field(default_factory=list)
    internal: list[str] = Field(default_factory=list)
