"""The FastAPI application."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Depends, FastAPI

from xorb_orchestrator import __version__
from xorb_orchestrator.api.auth import ApiKeys, require_api_key
from xorb_orchestrator.api.deps import Services
from xorb_orchestrator.api.errors import install_error_handlers
from xorb_orchestrator.api.routes import alerts, approvals, health, incidents, playbooks, sources
from xorb_orchestrator.config.api_keys import ApiKeyEntry


def create_app(svc: Services, api_keys: Sequence[ApiKeyEntry]) -> FastAPI:
    """The app; `api_keys` are the accepted keys and who holds each (settings.load_api_key_entries)."""
    app = FastAPI(
        title="xorb-orchestrator",
        version=__version__,
        description="Alerts in, durable response on Temporal, actions out.",
    )
    app.state.services = svc
    app.state.api_keys = ApiKeys(api_keys)
    install_error_handlers(app)
    secured = [Depends(require_api_key)]
    app.include_router(alerts.router, prefix="/v1", dependencies=secured, tags=["alerts"])
    app.include_router(sources.router, prefix="/v1", dependencies=secured, tags=["alerts"])
    app.include_router(incidents.router, prefix="/v1", dependencies=secured, tags=["incidents"])
    app.include_router(approvals.router, prefix="/v1", dependencies=secured, tags=["approvals"])
    app.include_router(playbooks.router, prefix="/v1", dependencies=secured, tags=["playbooks"])
    app.include_router(health.router, tags=["operations"])
    return app
