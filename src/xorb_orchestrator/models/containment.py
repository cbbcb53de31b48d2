"""A timed containment: what a response put in place, when it ends, and the exact undo that ends it.

The incident's response hands its undo records to a ContainmentWorkflow (its input: workflow_io.ContainmentInput),
which holds them on a durable timer in Temporal: the block ends on time even when the incident closed long ago, a
worker crashed or the server restarted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from xorb_orchestrator.models.receipt import Receipt
from xorb_orchestrator.models.run_records import UndoRecord

MAX_UNDO = 100
MAX_EXTENSION = timedelta(days=30)  # one extension reaches at most this far from now


class ContainmentSummary(BaseModel):
    """A containment as the incident view, `xorb containments list` and GET /v1/containments show it.

    `failed_undo`: an undo failed after all its attempts — the effect may still be in place; the SOC was told."""

    workflow_id: str
    incident_id: str | None = None
    title: str | None = None
    until: datetime
    reason: str
    status: Literal["active", "released", "failed", "failed_undo"] = "active"
    undo: list[UndoRecord] = Field(default_factory=list, max_length=MAX_UNDO)
    effects: list[Receipt] = Field(default_factory=list, max_length=MAX_UNDO, description="what is in place")
    released_at: datetime | None = None
    released_by: str | None = None
    extended: list[str] = Field(default_factory=list, max_length=100, description="who moved its end, when, why")


class ReleaseRequest(BaseModel):
    """End a containment before its time (a person's decision, or the kill switch)."""

    by: str = Field(min_length=1, max_length=200)
    reason: str = Field("", max_length=1000)


class ExtendRequest(BaseModel):
    """Keep a containment in place longer (a person's decision): its end moves to `until`."""

    by: str = Field(min_length=1, max_length=200)
    until: datetime
    reason: str = Field("", max_length=1000)
