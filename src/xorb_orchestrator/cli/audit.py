"""`xorb audit`: verify the audit chain and export it as JSON lines — straight from Redis (REDIS_URL), so it works
with the API and the worker down."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO, TypeVar

import typer

from xorb_orchestrator.cli.connection import fail, settings_or_fail
from xorb_orchestrator.infrastructure.audit_log import AuditError, AuditLog
from xorb_orchestrator.playbook.durations import parse_duration

audit_app = typer.Typer(help="The audit trail (docs/audit.md): verify its hash chain, export it.")

T = TypeVar("T")


@audit_app.command("verify")
def verify() -> None:
    """Recompute the whole chain and check the anchor file (XORB_AUDIT_ANCHOR_FILE). Exit 1 names the first bad
    entry."""
    result = _with_log(lambda audit: audit.verify())
    if not result.ok:
        raise fail(result.summary(), 1)
    typer.echo(result.summary())


@audit_app.command("export")
def export(
    since: Annotated[
        str | None,
        typer.Option(help="Only entries recorded since: an ISO 8601 time (UTC if no zone) or an age (2h, 1d)."),
    ] = None,
    after_seq: Annotated[
        int, typer.Option(min=0, help="Only entries after this seq: the exact cursor for shipping on a schedule.")
    ] = 0,
    output: Annotated[Path | None, typer.Option(help="Write here (replacing it) instead of stdout.")] = None,
) -> None:
    """Every entry, in order, as JSON lines (one entry a line, as hashed): for a SIEM or an archive."""
    start = _since(since) if since else None

    async def write(audit: AuditLog, out: TextIO) -> int:
        count = 0
        async for entry in audit.entries(since=start, after_seq=after_seq):
            out.write(entry.to_json() + "\n")
            count += 1
        return count

    if output is None:
        _with_log(lambda audit: write(audit, sys.stdout))
        return
    try:
        with output.open("w", encoding="utf-8") as out:
            count = _with_log(lambda audit: write(audit, out))
    except OSError as exc:
        raise fail(f"--output: cannot write {output}: {exc.strerror}", 1) from None
    typer.echo(f"exported {count} audit entries to {output}", err=True)


def _with_log(use: Callable[[AuditLog], Awaitable[T]]) -> T:
    """Run `use` on an AuditLog of this host's settings; an unreachable Redis or a bad entry: one line, exit 1."""
    settings = settings_or_fail()

    async def run() -> T:
        audit = AuditLog(settings.redis_url, anchor_file=settings.audit_anchor_file)
        try:
            return await use(audit)
        finally:
            await audit.close()

    try:
        return asyncio.run(run())
    except AuditError as exc:
        raise fail(str(exc), 1) from None


def _since(text: str) -> datetime:
    """An ISO 8601 time (naive: UTC), or an age such as 2h or 1d counted back from now."""
    try:
        return datetime.now(UTC) - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"--since: expected an ISO 8601 time or an age such as 2h or 1d, got {text!r}", 2) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
