"""`xorb containments list|show|extend|release`: what the responses put in place, until when, and its undo."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

import typer

from xorb_orchestrator.cli.connection import ApiKey, ApiUrl, call_api, error_text, fail, post_as_person

containments_app = typer.Typer(
    help="Containments: list what is in place and until when; release one now, or keep it longer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
Reason = Annotated[str, typer.Option("--reason", "-m", help="Why; recorded with the containment.")]
As = Annotated[
    str | None,
    typer.Option("--as", help="Who, when the API key is not bound to a person (default: your login name).",
                 show_default=False),
]  # fmt: skip
AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")]


@containments_app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Ended containments too.")] = False,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Open containments, the soonest end first (with --all, ended ones after)."""
    path = "/v1/containments" + ("?state=all" if all_ else "")
    status, data = call_api("GET", path, api_url=api_url, api_key=api_key)
    if status != 200:
        raise fail(error_text(data))
    if as_json:
        typer.echo(json.dumps(data))
        return
    items = data.get("items", [])
    if not items:
        typer.echo("no containment is open" if not all_ else "no containment")
    for item in items:
        for line in summary_lines(item):
            typer.echo(line)


@containments_app.command("show")
def show(workflow_id: str, as_json: AsJson = False, api_url: ApiUrl = None, api_key: ApiKey = None) -> None:
    """One containment: its effects (receipts), end, state, undo and who moved or ended it."""
    status, data = call_api("GET", f"/v1/containments/{quote(workflow_id, safe='')}", api_url=api_url, api_key=api_key)
    if status != 200:
        raise fail(error_text(data))
    if as_json:
        typer.echo(json.dumps(data))
        return
    for line in summary_lines(data, detailed=True):
        typer.echo(line)


@containments_app.command("release")
def release(workflow_id: str, reason: Reason = "", name: As = None, api_url: ApiUrl = None,
            api_key: ApiKey = None) -> None:  # fmt: skip
    """Release it now: its undo runs (a block lifted, a host released)."""
    data = post_as_person(
        f"/v1/containments/{quote(workflow_id, safe='')}/release", {"reason": reason}, name, None, api_url, api_key
    )
    for line in summary_lines(data, detailed=True):
        typer.echo(line)


@containments_app.command("extend")
def extend(
    workflow_id: str,
    duration: Annotated[str, typer.Option("--for", help="The new end, from now: 12h, 2d (at most 30d).")],
    reason: Reason = "",
    name: As = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Keep it in place longer: its end moves to now + --for."""
    body = {"duration": duration, "reason": reason}
    data = post_as_person(f"/v1/containments/{quote(workflow_id, safe='')}/extend", body, name, None, api_url, api_key)
    typer.echo(f"{data['workflow_id']}: now until {data['until']}")


def summary_lines(item: dict[str, Any], *, detailed: bool = False) -> list[str]:
    state = item["status"]
    ends = (
        f"until {item['until']}" if state == "active" else f"at {item.get('released_at')} by {item.get('released_by')}"
    )
    lines = [f"{item['workflow_id']}  {state.upper() if state == 'failed_undo' else state}  {ends}  "
             f"incident {item.get('incident_id') or '?'}: {item.get('title') or ''}"]  # fmt: skip
    for receipt in item.get("effects", []):
        lines.append(
            f"  {receipt['done']} [{receipt.get('handle') or '-'}] via {receipt['tool']} {receipt['connection']}"
        )
    if detailed:
        lines.append(f"  why it ends then: {item['reason']}")
        for undo in item.get("undo", []):
            error = f": {undo['error']}" if undo.get("error") else ""
            lines.append(f"  undo {undo['action']} {json.dumps(undo['args'])} ({undo['status']}){error}")
        lines.extend(f"  extended {note}" for note in item.get("extended", []))
    return lines
