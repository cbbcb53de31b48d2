"""Bookkeeping of a containment's end: the metrics of how it ended and how late its undo was."""

from __future__ import annotations

from temporalio import activity

from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.models.containment import ContainmentSummary


class ContainmentActivities:
    @activity.defn(name="containment.ended")
    async def ended(self, summary: ContainmentSummary) -> None:
        """Count it once (first attempt); an expiry's lateness is its undo's end minus its planned end."""
        if activity.info().attempt != 1:
            return
        ended_by = "expiry" if summary.released_by == "expiry" else "release"
        outcome = "failed_undo" if summary.status in ("failed", "failed_undo") else "released"
        metrics.CONTAINMENTS_ENDED.labels(ended_by, outcome).inc()
        if ended_by == "expiry" and summary.released_at is not None:
            late = (summary.released_at - summary.until).total_seconds()
            metrics.CONTAINMENT_UNDO_LATENESS.observe(max(0.0, late))
