"""The response plan: which actions to take for an incident, and why."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class PlannedStep(BaseModel):
    """One action of the plan. `id` is stable within the incident and keys the action's idempotency."""

    id: str
    action: str
    args: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""


class Plan(BaseModel):
    playbook: str
    rationale: str
    steps: list[PlannedStep] = Field(default_factory=list)
