"""`xorb playbook ...`: print the JSON Schema, validate playbook files. Thin: the work is in services/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from xorb_orchestrator.models.playbook import PlaybookInvalid, load_document, playbook_json_schema, validate_playbook
from xorb_orchestrator.models.playbook.cacao import is_cacao, load_cacao, native_text
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


@playbook_app.command("convert")
def convert(
    file: Annotated[Path, typer.Argument(help="An OASIS CACAO 2.0 playbook (JSON).")],
    output_format: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the file here instead.")] = None,
) -> None:
    """Convert a CACAO 2.0 playbook to the native format (see docs/cacao.md); print it, or write it with -o."""
    if output_format not in ("yaml", "json"):
        typer.echo(f"--format must be yaml or json, got {output_format!r}", err=True)
        raise typer.Exit(2)
    try:
        data = load_document(file.read_text(encoding="utf-8"), "json")
        if not is_cacao(data):
            typer.echo(f'{file}: not a CACAO playbook (no "spec_version": "cacao-2.0")', err=True)
            raise typer.Exit(1)
        playbook = load_cacao(data)
        problems = validate_playbook(playbook)
        if problems:
            raise PlaybookInvalid(problems)
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"{file}: cannot read: {getattr(exc, 'strerror', None) or exc}", err=True)
        raise typer.Exit(1) from None
    except PlaybookInvalid as exc:
        for error in exc.errors:
            typer.echo(f"{file}: {error}", err=True)
        raise typer.Exit(1) from None
    text = native_text(playbook, "json" if output_format == "json" else "yaml")
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output} ({playbook.id}, {_steps(playbook.count_steps())})", err=True)
