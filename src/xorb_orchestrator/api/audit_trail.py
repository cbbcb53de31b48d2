"""People's decisions made through the API (approvals, the kill switch, releases and extensions), appended to the
audit log once they took effect. The decision stands even when the log cannot be written right then: it is logged
loudly, and the answer says `audited: false`."""

from __future__ import annotations

import logging
from typing import Any

from xorb_orchestrator.api.deps import Services
from xorb_orchestrator.infrastructure.audit_log import AuditUnavailable

log = logging.getLogger(__name__)


async def record(
    svc: Services, kind: str, actor: str, subject: str, detail: dict[str, Any], incident_id: str | None = None
) -> bool:
    """Whether it was appended (True also when the deployment runs without an audit log)."""
    if svc.audit is None:
        return True
    try:
        await svc.audit.append(kind, actor, subject, detail, incident_id)
    except AuditUnavailable as exc:
        log.error("audit log unavailable, %s by %s on %s NOT recorded: %s", kind, actor, subject, exc)
        return False
    return True
