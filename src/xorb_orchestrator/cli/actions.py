"""`xorb actions ...`: the actions this deployment can run (service.action_catalog)."""

from __future__ import annotations

import json
import textwrap
from typing import Annotated, Any

import typer

from xorb_orchestrator.playbook.actions import ActionSpec
from xorb_orchestrator.service import action_catalog

actions_app = typer.Typer(
    help="Response actions: what a playbook step or a plan can run.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@actions_app.command("list")
def list_actions(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array, for scripts.")] = False,
) -> None:
    """Every registered action: name, mutating flag, undo, description and the JSON Schema of its arguments."""
    specs = action_catalog().specs()
    if as_json:
        typer.echo(json.dumps([spec.describe() for spec in specs], indent=2))
        return
    for n, spec in enumerate(specs):
        if n:
            typer.echo()
        typer.echo(_describe(spec))


def _describe(spec: ActionSpec[Any]) -> str:
    if not spec.mutating:
        mutating = "not mutating"
    elif spec.mutating_unless:
        mutating = f"mutating (not when {spec.mutating_unless})"
    else:
        mutating = "mutating"
    lines = [
        spec.name,
        f"  {mutating}; undo: {'none (one-way)' if spec.one_way else spec.undo or 'none'}"
        + (f"; connector {spec.connector} (a connection in XORB_CONNECTORS_FILE)" if spec.connector else ""),
        textwrap.fill(spec.description, width=100, initial_indent="  ", subsequent_indent="  "),
        "  args (JSON Schema):",
        textwrap.indent(json.dumps(spec.args_schema(), indent=2), "    "),
    ]
    return "\n".join(lines)
