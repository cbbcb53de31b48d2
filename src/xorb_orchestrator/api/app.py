"""The FastAPI application."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from xorb_orchestrator import __version__
from xorb_orchestrator.api.auth import ApiKeys, require_api_key
from xorb_orchestrator.api.console import install_console
from xorb_orchestrator.api.deps import Services
from xorb_orchestrator.api.errors import install_error_handlers
from xorb_orchestrator.api.openapi import errors, install_openapi
from xorb_orchestrator.api.query import known_query_parameters
from xorb_orchestrator.api.routes import (
    alerts,
    approvals,
    autonomy,
    containments,
    health,
    incidents,
    intel,
    plans,
    playbooks,
    sources,
)
from xorb_orchestrator.config.api_keys import ApiKeyEntry


def create_app(svc: Services, api_keys: Sequence[ApiKeyEntry]) -> FastAPI:
    """The app; `api_keys` are the accepted keys and who holds each (settings.load_api_key_entries)."""
    # Swagger UI and ReDoc from assets shipped in the package (fastapi-offline): /docs works with no network.
    app = FastAPIOffline(
        title="xorb-orchestrator",
        version=__version__,
        description="Alerts in, durable response on Temporal, actions out.",
    )
    app.state.services = svc
    app.state.api_keys = ApiKeys(api_keys)
    install_error_handlers(app)
    install_openapi(app)
    # Every /v1 route: a key, and no query parameter it does not take (400 naming it).
    secured, unauthorized = [Depends(require_api_key), Depends(known_query_parameters)], errors(400, 401)
    for router, tag, documented in (
        (alerts.router, "alerts", unauthorized),
        (sources.router, "alerts", unauthorized),
        (incidents.router, "incidents", unauthorized),
        # Approvals answer 404 for an id that cannot be an incident's (routes/approvals.py), and FastAPI reads
        # their body: 400 when it is not JSON.
        (approvals.router, "approvals", errors(400, 401, 404)),
        (playbooks.router, "playbooks", unauthorized),
        (intel.router, "threat intelligence", unauthorized),
        (plans.router, "incidents", unauthorized),
        (autonomy.router, "guardrails", unauthorized),
        (containments.router, "containments", unauthorized),
    ):
        app.include_router(router, prefix="/v1", dependencies=secured, responses=documented, tags=[tag])
    app.include_router(health.router, tags=["operations"])
    install_console(app)  # the SOC console at / (people signed in with their own key)
    return app
