"""What route handlers need, taken from app.state (set once by create_app)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from temporalio.client import Client

from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure.audit_log import AuditLog
from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.infrastructure.indicator_store import IndicatorStore
from xorb_orchestrator.infrastructure.response_planning import Enricher, Planner
from xorb_orchestrator.intel.feeds_config import FeedsConfig
from xorb_orchestrator.playbook.actions import ActionCatalog
from xorb_orchestrator.services.intake import AlertIntake


@dataclass
class Services:
    settings: Settings
    client: Client
    cache: IncidentCache
    intake: AlertIntake
    actions: ActionCatalog
    indicators: IndicatorStore
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    sdk_metrics_url: str | None = None
    enricher: Enricher | None = None  # for `xorb plan explain`: the worker's enrichment and planning, run here
    planner: Planner | None = None
    audit: AuditLog | None = None  # people's decisions (approvals, kill switch, releases) are appended here


def services(request: Request) -> Services:
    return request.app.state.services
