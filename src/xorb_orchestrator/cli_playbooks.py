"""`xorb playbook ...`: print the JSON Schema, validate playbook files. Thin: the work is in services/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from xorb_orchestrator.models.playbook import playbook_json_schema
from xorb_orchestrator.services.playbooks import (
    DEFAULT_PLAYBOOK_DIR,
    PLAYBOOK_SUFFIXES,
    check_files,
    playbook_files,
    read_references,
)

playbook_app = typer.Typer(
    help="Response playbooks: validate files, print the JSON Schema of the format.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@playbook_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the native playbook format (YAML or JSON files)."""
    typer.echo(json.dumps(playbook_json_schema(), indent=2))


@playbook_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Playbook files (.yaml, .yml, .json) or directories.")],
    playbooks_dir: Annotated[
        Path,
        typer.Option(help="Where `playbook` steps find the playbooks they run, besides the files given."),
    ] = DEFAULT_PLAYBOOK_DIR,
) -> None:
    """Check playbooks; print `OK <file> (<id> v<version>, N steps)` or one line per problem. Exit 1 on any."""
    paths = []
    for path in playbook_files(files):
        if path.exists() and path.suffix.lower() not in PLAYBOOK_SUFFIXES:
            typer.echo(f"{path}: skipped (not a {', '.join(PLAYBOOK_SUFFIXES)} file)", err=True)
        else:
            paths.append(path)
    failed = False
    for report in check_files(paths, references=read_references(playbooks_dir)):
        if report.ok and report.playbook is not None:
            playbook = report.playbook
            typer.echo(f"OK {report.path} ({playbook.id} v{playbook.version}, {_steps(playbook.count_steps())})")
        else:
            failed = True
            for message in report.messages():
                typer.echo(message, err=True)
    if failed:
        raise typer.Exit(1)


def _steps(count: int) -> str:
    return f"{count} step" if count == 1 else f"{count} steps"
