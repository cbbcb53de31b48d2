"""`xorb plan explain`: the response the policy would choose for an alert, and why — without running it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

import httpx
import typer

from xorb_orchestrator.cli.connection import ApiKey, ApiUrl, api_endpoint, error_text, fail
from xorb_orchestrator.services.plan_explanation import decision_lines, observable_lines

plan_app = typer.Typer(help="Response plans: explain what the policy would do for an alert.")


@plan_app.command("explain")
def explain(
    alert: Annotated[
        Path, typer.Option("--alert", help="A file holding one alert (JSON).", exists=True, dir_okay=False)
    ],
    source: Annotated[str, typer.Option(help="The alert's format: generic, suricata, wazuh, ecs, ocsf.")] = "generic",
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Enrich the alert, ask the response policy, and print the plan it would make: the rule, the targets with
    their evidence, and everything passed over and why. Nothing is run and no incident is opened."""
    try:
        body = alert.read_bytes()
    except OSError as exc:
        raise fail(f"--alert: cannot read {alert}: {exc.strerror}", 2) from None
    url, key = api_endpoint(api_url, api_key)
    try:
        response = httpx.post(
            f"{url}/v1/plan/explain?{urlencode({'source': source})}",
            content=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise fail(f"the API at {url} is not reachable: {exc}") from None
    try:
        data = response.json()
    except ValueError:
        raise fail(f"the API answered {response.status_code} without JSON") from None
    if response.status_code != 200:
        raise fail(error_text(data))
    if as_json:
        typer.echo(json.dumps(data))
        return
    typer.echo(f"alert: {data['alert']['title']} (from {data['alert']['source']})")
    for line in [*observable_lines(data["enrichment"]), *decision_lines(data["plan"])]:
        typer.echo(line)
