"""A timed containment: what a response put in place, when it ends, and the exact undo that ends it.

The incident's response hands its undo records to a ContainmentWorkflow (its input: workflow_io.ContainmentInput),
which holds them on a durable timer in Temporal: the block ends on time even when the incident closed long ago, a
worker crashed or the server restarted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from xorb_orchestrator.models.run_records import UndoRecord

MAX_UNDO = 100


class ContainmentSummary(BaseModel):
    """What the incident view shows of its containment."""

    workflow_id: str
    until: datetime
    reason: str
    status: Literal["active", "released", "failed"] = "active"
    undo: list[UndoRecord] = Field(default_factory=list, max_length=MAX_UNDO)
    released_at: datetime | None = None
    released_by: str | None = None


class ReleaseRequest(BaseModel):
    """End a containment before its time (a person's decision, or the kill switch)."""

    by: str = Field(min_length=1, max_length=200)
    reason: str = Field("", max_length=1000)
