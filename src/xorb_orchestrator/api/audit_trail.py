"""People's decisions made through the API (approvals, the kill switch, releases and extensions), appended to the
audit log once they took effect. The decision stands even when the log cannot be written right then: it is logged
loudly, and the answer says `audited: false`."""

from __future__ import annotations

from typing import Any

from xorb_orchestrator.api.deps import Services
from xorb_orchestrator.infrastructure.audit_log import append_or_report


async def record(
    svc: Services, kind: str, actor: str, subject: str, detail: dict[str, Any], incident_id: str | None = None
) -> bool:
    """Whether it was appended (True also when the deployment runs without an audit log)."""
    return await append_or_report(svc.audit, kind, actor, subject, detail, incident_id)
