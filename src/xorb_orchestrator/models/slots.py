"""Who gets a response slot next: the pure decision behind MAX_PARALLEL_WORKFLOWS."""

from __future__ import annotations

from xorb_orchestrator.models.workflow_io import SlotRequest


def grant_order(request: SlotRequest) -> tuple[int, str, str]:
    """Most severe first; among equals, first come first served."""
    return (-request.severity_id, request.requested_at.isoformat(), request.incident_id)


def next_grants(holders: list[str], queue: list[SlotRequest], limit: int) -> list[SlotRequest]:
    """The requests to grant now so that at most `limit` incidents hold a slot."""
    free = max(0, limit - len(holders))
    return sorted(queue, key=grant_order)[:free]
