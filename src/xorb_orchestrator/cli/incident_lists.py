"""`xorb incidents list` and `xorb incidents watch`: the incidents as a table for people (or JSON for scripts), and
a live view that prints a line whenever one appears or changes."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any
from urllib.parse import urlencode

import typer

from xorb_orchestrator.cli.connection import ApiKey, ApiUrl, call_api, error_text, fail
from xorb_orchestrator.cli.incidents import incidents_app

Status = Annotated[
    str | None,
    typer.Option(help="Only these: open, waiting, running, awaiting_approval, completed, failed, closed."),
]
Severity = Annotated[str | None, typer.Option(help="Only these: informational, low, medium, high, critical (or 0-6).")]


def _page(status: str | None, severity: str | None, limit: int, url: str | None, key: str | None) -> list[Any]:
    query = {name: value for name, value in (("status", status), ("severity", severity)) if value}
    query["page_size"] = str(limit)
    code, data = call_api("GET", "/v1/incidents?" + urlencode(query), api_url=url, api_key=key)
    if code != 200:
        raise fail(error_text(data))
    return list(data.get("items", []))


def row(item: dict[str, Any]) -> str:
    run = item.get("playbook_run") or {}
    response = run.get("playbook_id") or (item.get("plan") or {}).get("playbook") or "-"
    return (
        f"{item['incident_id']:<50} {item['status']:<17} {item['severity']:<8} {item['alert_count']:>6}  "
        f"{item['updated_at'][:19]}Z  {response:<22} {item['title'][:60]}"
    )


HEADER = f"{'INCIDENT':<50} {'STATUS':<17} {'SEVERITY':<8} {'ALERTS':>6}  {'UPDATED':<20} {'RESPONSE':<22} TITLE"


@incidents_app.command("list")
def list_(
    status: Status = None,
    severity: Severity = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="The API's items as JSON.")] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """The incidents, newest first: status, severity, alerts, the response and the title."""
    items = _page(status, severity, limit, api_url, api_key)
    if as_json:
        typer.echo(json.dumps(items))
        return
    if not items:
        typer.echo("no incident" + (" matches" if status or severity else " yet"))
        return
    typer.echo(HEADER)
    for item in items:
        typer.echo(row(item))


@incidents_app.command("watch")
def watch(
    status: Status = None,
    severity: Severity = None,
    every: Annotated[float, typer.Option(min=0.5, max=60, help="Seconds between looks.")] = 2.0,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Print a line whenever an incident appears or changes (status, alerts, response), until Ctrl-C."""
    seen: dict[str, tuple[Any, ...]] = {}
    typer.echo(HEADER)
    try:
        while True:
            for item in reversed(_page(status, severity, 100, api_url, api_key)):  # oldest change first
                state = (item["status"], item["alert_count"], item.get("revision"), item["updated_at"])
                if seen.get(item["incident_id"]) != state:
                    seen[item["incident_id"]] = state
                    typer.echo(row(item))
            time.sleep(every)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
