"""Connectors: one module per security tool. CONNECTOR_TYPES is the explicit list the worker registers."""

from __future__ import annotations

from pydantic import ValidationError

from xorb_orchestrator.config import Settings, SettingsError
from xorb_orchestrator.connectors.base import ConnectorType
from xorb_orchestrator.connectors.connections import Connections, ConnectionsInvalid, load_connections
from xorb_orchestrator.connectors.crowdstrike import CROWDSTRIKE
from xorb_orchestrator.connectors.defender import DEFENDER
from xorb_orchestrator.connectors.entra import ENTRA
from xorb_orchestrator.connectors.http_api import HTTP_API
from xorb_orchestrator.connectors.jira import JIRA
from xorb_orchestrator.connectors.nftables import NFTABLES
from xorb_orchestrator.connectors.okta import OKTA
from xorb_orchestrator.connectors.openc2 import OPENC2_SLPF
from xorb_orchestrator.connectors.teams import TEAMS
from xorb_orchestrator.connectors.thehive import THEHIVE
from xorb_orchestrator.connectors.wazuh import WAZUH

# Firewalls, EDR, identity, cases and tickets, chat, and any HTTP API.
CONNECTOR_TYPES: tuple[ConnectorType, ...] = (
    NFTABLES,
    OPENC2_SLPF,
    CROWDSTRIKE,
    DEFENDER,
    WAZUH,
    OKTA,
    ENTRA,
    THEHIVE,
    JIRA,
    TEAMS,
    HTTP_API,
)


def connector_type(name: str) -> ConnectorType | None:
    return next((kind for kind in CONNECTOR_TYPES if kind.name == name), None)


def check_connections(connections: Connections, origin: str) -> Connections:
    """Every connection's type is known and its options fit that type's model; ConnectionsInvalid, one line."""
    for connection in connections.connections:
        kind = connector_type(connection.type)
        where = f"{origin}: connection {connection.name!r}"
        if kind is None:
            known = ", ".join(k.name for k in CONNECTOR_TYPES)
            raise ConnectionsInvalid(f"{where}: type: unknown connector type {connection.type!r} (known: {known})")
        try:
            kind.options.model_validate(connection.options)
        except ValidationError as exc:
            problem = exc.errors(include_url=False, include_input=False)[0]
            field = ".".join(str(step) for step in problem["loc"])
            message = "unknown key (misspelt?)" if problem["type"] == "extra_forbidden" else problem["msg"]
            raise ConnectionsInvalid(f"{where}: options.{field}: {message}") from None
    return connections


def read_connections(settings: Settings) -> Connections:
    """XORB_CONNECTORS_FILE's connections (none when it is not set); SettingsError, one line, when it is wrong."""
    path = settings.connectors_file
    if path is None:
        return Connections()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SettingsError(f"XORB_CONNECTORS_FILE: cannot read {path}: {reason}") from None
    try:
        return check_connections(load_connections(text, str(path)), str(path))
    except ConnectionsInvalid as exc:
        raise SettingsError(f"XORB_CONNECTORS_FILE: {exc}") from None
