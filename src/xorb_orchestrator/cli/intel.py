"""`xorb ti`: the threat-intelligence feeds — sync them, see their state, and look a value up (through the API)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import typer

from xorb_orchestrator.cli.connection import ApiKey, ApiUrl, call_api, error_text, fail
from xorb_orchestrator.services.plan_explanation import age_text

ti_app = typer.Typer(help="Threat intelligence: feeds (XORB_TI_FEEDS_FILE), their syncs, and lookups.")

AsJson = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer.")]


@ti_app.command("sync")
def sync(
    feed: Annotated[str | None, typer.Argument(help="The feed to sync (default: every configured feed).")] = None,
    full: Annotated[bool, typer.Option(help="Read everything, even where the feed can resume (TAXII).")] = False,
    timeout: Annotated[int, typer.Option(help="Seconds to wait for each sync (at most 600).")] = 300,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Sync a feed now and wait for it: what it added, changed and removed. Exit 1 if a sync failed."""
    names = [feed] if feed else [item["name"] for item in _feeds(api_url, api_key)]
    if not names:
        raise fail("no feed is configured: set XORB_TI_FEEDS_FILE (see docs/threat-intel.md)")
    failed = False
    for name in names:
        query = urlencode({"full": str(full).lower(), "wait": max(1, min(timeout, 600))})
        status, data = call_api(
            "POST", f"/v1/ti/feeds/{quote(name, safe='')}/sync?{query}", api_url=api_url, api_key=api_key,
            timeout=min(timeout, 600) + 30,
        )  # fmt: skip
        if as_json:
            typer.echo(json.dumps(data if status < 400 else {"feed": name, **data}))
        if status == 202:
            typer.echo(f"{name}: still syncing after {timeout}s (workflow {data['workflow_id']}); see `xorb ti feeds`")
        elif status == 200 and not as_json:
            counts = data["counts"]
            kind = "incremental" if data["incremental"] else "full"
            typer.echo(
                f"{name}: {kind} sync done in {counts['pages']} page(s): {counts['added']} added, "
                f"{counts['updated']} updated, {counts['removed']} removed, {counts['rejected'] + counts['skipped']} "
                f"skipped; {data['entries']} indicators"
            )
            for reason in counts["reasons"][:5]:
                typer.echo(f"    skipped {reason}")
        elif status >= 400:
            failed = True
            if not as_json:
                typer.echo(f"xorb: error: {name}: {error_text(data)}", err=True)
    if failed:
        raise typer.Exit(1)


@ti_app.command("feeds")
def feeds(as_json: AsJson = False, api_url: ApiUrl = None, api_key: ApiKey = None) -> None:
    """Each feed: its state (ok, syncing, late, failing, never synced), last sync, counts and last error."""
    items = _feeds(api_url, api_key)
    if as_json:
        typer.echo(json.dumps({"items": items}))
        return
    if not items:
        typer.echo("no feed is configured (XORB_TI_FEEDS_FILE)")
    for item in items:
        status = item["status"]
        age = item.get("last_success_age_seconds")
        when = f"last synced {_ago(age)}" if age is not None else "never synced"
        typer.echo(
            f"{item['name']:<20} {item['type']:<12} {item['state']:<13} {status['entries']} indicators, {when}, "
            f"every {_ago(item['interval_seconds'], suffix='')}  ({item['location']})"
        )
        if status.get("last_sync") or status.get("running_sync"):
            typer.echo(
                f"    last counts: {status['added']} added, {status['updated']} updated, {status['removed']} removed"
            )
        if item["state"] == "failing":
            typer.echo(f"    error at {_time(status['last_error_at'])}: {status['last_error']}")


@ti_app.command("lookup")
def lookup(
    value: Annotated[str, typer.Argument(help="An address, network, domain, URL, hash or e-mail address.")],
    kind: Annotated[str | None, typer.Option("--type", help="Its type, when guessing would be wrong.")] = None,
    as_json: AsJson = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """What the feeds say about a value: the combined verdict, then every source's finding."""
    query = {"value": value, **({"type": kind} if kind else {})}
    status, data = call_api("GET", f"/v1/ti/lookup?{urlencode(query)}", api_url=api_url, api_key=api_key)
    if status != 200:
        raise fail(error_text(data))
    if as_json:
        typer.echo(json.dumps(data))
        return
    if data["known_good"]:
        verdict = "known good"
    elif data["hit"]:
        verdict = f"HIT: score {data['score']}, confidence {data['confidence']}"
    else:
        verdict = "no live bad verdict"
    until = f", until {_time(data['expires_at'])}" if data.get("expires_at") else ""
    typer.echo(f"{data['kind']} {data['value']}: {verdict}{until}")
    if not data["sources"]:
        typer.echo("    no feed lists it")
    for finding in data["sources"]:
        typer.echo("    " + _finding_text(finding))


def _finding_text(finding: dict[str, Any]) -> str:
    source = finding["verdict"]
    state = "live" if finding["live"] else f"not live ({finding['why_not_live']})"
    matched = f" via {finding['matched']}" if finding["matched"] != source["value"] else ""
    age = f", seen {age_text(finding['age_days'])}" if finding.get("age_days") is not None else ""
    tags = f", tags {', '.join(source['tags'][:5])}" if source.get("tags") else ""
    tlp = f", TLP:{source['tlp'].upper()}" if source.get("tlp") else ""
    return (
        f"{source['source']}: score {source['score']} (now {finding['score_now']}), confidence {source['confidence']}"
        f"{matched}{age}{tlp}{tags}; {state}"
    )


def _feeds(api_url: str | None, api_key: str | None) -> list[dict[str, Any]]:
    status, data = call_api("GET", "/v1/ti/feeds", api_url=api_url, api_key=api_key)
    if status != 200:
        raise fail(error_text(data))
    items: list[dict[str, Any]] = data["items"]
    return items


def _ago(seconds: float, suffix: str = " ago") -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}{suffix}"
    return f"{seconds:.0f}s{suffix}"


def _time(text: str | None) -> str:
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%SZ") if text else "?"
