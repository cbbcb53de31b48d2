"""`xorb playbook ...`: print the JSON Schema, validate playbook files. Thin: the work is in services/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from xorb_orchestrator.cli.connection import ApiKey, ApiUrl, call_api, error_text, fail
from xorb_orchestrator.playbook import (
    PlaybookInvalid,
    guess_format,
    load_document,
    playbook_json_schema,
    validate_playbook,
)
from xorb_orchestrator.playbook.cacao import is_cacao, load_cacao, native_text
from xorb_orchestrator.playbook.catalog import (
    DEFAULT_PLAYBOOK_DIR,
    PLAYBOOK_SUFFIXES,
    check_files,
    playbook_files,
    read_playbook,
    read_references,
)
from xorb_orchestrator.service import action_catalog
from xorb_orchestrator.sources import SOURCES, parse_event
from xorb_orchestrator.sources.errors import AlertFormatError, UnknownSourceError

playbook_app = typer.Typer(
    help="Response playbooks: validate, convert and dry-run them; print the JSON Schema of the format.",
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
    actions = action_catalog().flags()
    for report in check_files(paths, actions, references=read_references(playbooks_dir)):
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
        problems = validate_playbook(playbook, action_catalog().flags())
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


@playbook_app.command("run")
def run(
    file: Annotated[str, typer.Argument(help="A playbook file (native or CACAO 2.0), or the id of a loaded playbook.")],
    alert: Annotated[Path, typer.Option(help="The alert to respond to: one JSON event in the --source format.")],
    source: Annotated[
        str, typer.Option("--source", "-s", help=f"The alert's format: {', '.join(SOURCES)}.")
    ] = "generic",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Simulate every change (required for now).")] = False,
    inputs: Annotated[
        list[str] | None, typer.Option("--input", help="An input as name=value (repeat); JSON for non-strings.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's whole answer as JSON.")] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Run a playbook dry on the real interpreter (through the API at XORB_API_URL): print the steps it would
    take, their resolved arguments and the branches chosen. Nothing is changed. Exit 1 if the run failed."""
    if not dry_run:
        raise fail("only --dry-run is supported here; real runs are started by incidents", 2)
    spec, declared = _playbook_arg(file)
    try:
        alert_data = json.loads(alert.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(f"--alert {alert}: cannot read a JSON alert: {getattr(exc, 'strerror', None) or exc}", 2) from None
    if source != "generic":
        alert_data = _as_generic(source, alert_data, alert)
    body = {"playbook": spec, "alert": alert_data, "inputs": _inputs(inputs or [], declared)}
    status, data = call_api("POST", "/v1/playbooks/dry-run", api_url=api_url, api_key=api_key, body=body, timeout=90)
    if status != 200:
        raise fail(error_text(data))
    typer.echo(json.dumps(data, indent=2) if as_json else dry_run_text(data))
    if data.get("status") != "completed":
        raise typer.Exit(1)


def _playbook_arg(file: str) -> tuple[Any, dict[str, str]]:
    """What to send (the file's object, or an id) and the declared input types (for --input values)."""
    path = Path(file)
    if not path.exists() and "/" not in file and not path.suffix:
        return file, {}  # a playbook id: the API resolves it in its catalog
    try:
        text = path.read_text(encoding="utf-8")
        document = load_document(text, guess_format(path.name, text))
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"{file}: cannot read: {getattr(exc, 'strerror', None) or exc}", 2) from None
    except PlaybookInvalid as exc:
        raise fail("\n".join(f"{file}: {error}" for error in exc.errors)) from None
    try:
        declared = {name: spec.type.value for name, spec in read_playbook(path).inputs.items()}
    except PlaybookInvalid:
        declared = {}  # the API reports what is wrong, step by step
    return document, declared


def _inputs(pairs: list[str], declared: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise fail(f"--input: expected name=value, got {pair!r}", 2)
        if declared.get(name, "string") == "string":
            values[name] = text
            continue
        try:
            values[name] = json.loads(text)
        except json.JSONDecodeError:
            raise fail(f"--input {name}: expected a JSON {declared[name]}, got {text!r}", 2) from None
    return values


def dry_run_text(report: dict[str, Any]) -> str:
    """The dry run for people: one line per step in the order they ran, then the branch decisions."""
    warnings = sum(1 for step in report.get("steps", []) if (step.get("result") or {}).get("warning"))
    noted = f" with {warnings} warning(s): a real run may go otherwise" if warnings else ""
    lines = [f"dry run of {report['playbook_id']} ({report['playbook_sha256'][:12]}): {report['status']}{noted}"]
    for number, step in enumerate(report.get("steps", []), start=1):
        what = step.get("action") or step["kind"]
        iteration = f"[{step['iteration']}]" if step.get("iteration") is not None else ""
        outcome = "simulated" if step.get("simulated") else step["status"]
        decision = f" -> {step['decision']}" if step.get("decision") else ""
        args = f" {json.dumps(step['args'], separators=(',', ':'))}" if step.get("args") is not None else ""
        lines.append(f"{number:3}. {step['id']}{iteration}  {what}  {outcome}{decision}{args}")
        if step.get("error"):
            lines.append(f"     error: {step['error']}")
        if (step.get("result") or {}).get("warning"):
            lines.append(f"     warning: {step['result']['warning']}")
    if report.get("error"):
        lines.append(f"error: {report['error']}")
    return "\n".join(lines)


def _as_generic(source: str, event: object, where: Path) -> dict[str, object]:
    """A detector's event (Suricata EVE, Wazuh, ECS, OCSF) as the generic alert the dry-run API takes, parsed by
    the same adapter the intake uses."""
    try:
        parsed = parse_event(source, event)
    except UnknownSourceError:
        raise fail(f"--source: expected one of {', '.join(SOURCES)}, got {source!r}", 2) from None
    except AlertFormatError as exc:
        raise fail(f"--alert {where}: not a {source} alert: {exc.path}: {exc.message}", 2) from None
    if parsed is None:
        raise fail(f"--alert {where}: a {source} event that is not an alert (nothing would respond to it)", 2)
    observables = [{"type": o.type.value, "value": o.value, "role": o.role} for o in parsed.observables]
    generic: dict[str, object] = {"title": parsed.title, "severity": parsed.severity.label, "source": parsed.source,
                                  "observables": observables, "techniques": list(parsed.techniques)}  # fmt: skip
    for name, value in (("id", parsed.event_id), ("rule", parsed.rule), ("time", parsed.time)):
        if value is not None:
            generic[name] = value.isoformat().replace("+00:00", "Z") if name == "time" else value  # type: ignore[union-attr]
    return generic
