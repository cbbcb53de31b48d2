"""`xorb connectors`: the connections of XORB_CONNECTORS_FILE and their tools' actions, and a read-only health
check of one connection (run here, with this host's environment for the credentials' references)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from xorb_orchestrator.cli.connection import fail, settings_or_fail
from xorb_orchestrator.config import SettingsError
from xorb_orchestrator.connectors import CONNECTOR_TYPES, connector_type, read_connections
from xorb_orchestrator.connectors.base import ConnectorError

connectors_app = typer.Typer(help="Connections to security tools (XORB_CONNECTORS_FILE) and their actions.")


@connectors_app.command("list")
def list_connections(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Each connection: its type, where it reaches, how it authenticates (the reference, never the secret), and
    the actions playbooks can call through it."""
    try:
        connections = read_connections(settings_or_fail())
    except SettingsError as exc:
        raise fail(str(exc), 2) from None
    rows: list[dict[str, Any]] = []
    for connection in connections.connections:
        kind = connector_type(connection.type)
        assert kind is not None  # read_connections checked the type
        rows.append(
            {
                "name": connection.name,
                "type": connection.type,
                "url": connection.url,
                "options": connection.options,
                "auth": None if connection.auth is None else connection.auth.model_dump(exclude_none=True),
                "actions": [
                    {"name": a.spec.name, "mutating": a.spec.mutating, "undo": a.spec.undo, "one_way": a.spec.one_way}
                    for a in kind.actions
                ],
            }
        )
    if as_json:
        typer.echo(json.dumps({"connections": rows, "types": [k.name for k in CONNECTOR_TYPES]}))
        return
    if not rows:
        known = ", ".join(k.name for k in CONNECTOR_TYPES)
        typer.echo(f"no connection configured (XORB_CONNECTORS_FILE); connector types: {known}")
    for row in rows:
        where = row["url"] or ", ".join(f"{k}={v}" for k, v in row["options"].items()) or "this host"
        typer.echo(f"{row['name']:<20} {row['type']:<12} {where}")
        for action in row["actions"]:
            kind_text = "one-way" if action["one_way"] else f"undo {action['undo']}" if action["undo"] else ""
            flag = "mutating" if action["mutating"] else "read-only"
            typer.echo(f"    {action['name']:<24} {flag}{', ' + kind_text if kind_text else ''}")


@connectors_app.command("test")
def test(name: Annotated[str, typer.Argument(help="The connection's name.")]) -> None:
    """A read-only health call through the connection: exit 0 and what it saw, or exit 1 and why not."""
    try:
        connections = read_connections(settings_or_fail())
    except SettingsError as exc:
        raise fail(str(exc), 2) from None
    connection = connections.get(name)
    if connection is None:
        known = ", ".join(c.name for c in connections.connections) or "none"
        raise fail(f"no connection named {name!r} in XORB_CONNECTORS_FILE (configured: {known})", 2)
    kind = connector_type(connection.type)
    assert kind is not None
    health = kind.health

    async def check() -> str:
        assert connection is not None
        return await health(connection)

    try:
        said = asyncio.run(check())
    except ConnectorError as exc:
        raise fail(f"{name}: {exc}") from None
    typer.echo(f"{name}: ok: {said}")
