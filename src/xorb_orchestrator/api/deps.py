"""What route handlers need, taken from app.state (set once by create_app)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from temporalio.client import Client

from xorb_orchestrator.config import Settings
from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.playbook.actions import ActionCatalog
from xorb_orchestrator.services.intake import AlertIntake


@dataclass
class Services:
    settings: Settings
    client: Client
    cache: IncidentCache
    intake: AlertIntake
    actions: ActionCatalog
    sdk_metrics_url: str | None = None


def services(request: Request) -> Services:
    return request.app.state.services
