"""The `xorb` command. Thin: parses flags, sets up logging, calls into the service."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from xorb_orchestrator import __version__
from xorb_orchestrator.cli.actions import actions_app
from xorb_orchestrator.cli.actuator import actuator_app
from xorb_orchestrator.cli.alerts import alerts_app
from xorb_orchestrator.cli.audit import audit_app
from xorb_orchestrator.cli.autonomy import autonomy_app
from xorb_orchestrator.cli.codec_server import codec_server
from xorb_orchestrator.cli.connection import fail, settings_or_fail
from xorb_orchestrator.cli.connectors import connectors_app
from xorb_orchestrator.cli.containments import containments_app
from xorb_orchestrator.cli.incident_lists import incidents_app  # with list and watch
from xorb_orchestrator.cli.intel import ti_app
from xorb_orchestrator.cli.plans import plan_app
from xorb_orchestrator.cli.playbooks import playbook_app
from xorb_orchestrator.config import Settings, SettingsError
from xorb_orchestrator.config.environment import referenced_names, unknown_variables
from xorb_orchestrator.devtools.stack import (
    DevStack,
    DevStackError,
    choose_port,
    dev_console_person,
    load_or_create_api_key,
    write_console_key_file,
    write_endpoints,
)
from xorb_orchestrator.infrastructure.logs import setup_logging
from xorb_orchestrator.infrastructure.redaction import settings_secrets
from xorb_orchestrator.infrastructure.temporal import TemporalUnavailable
from xorb_orchestrator.service import Roles, run_service

app = typer.Typer(
    name="xorb",
    help="xorb-orchestrator: alerts in, durable response on Temporal, actions out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(alerts_app, name="alerts")
app.add_typer(playbook_app, name="playbook")
app.add_typer(actions_app, name="actions")
app.add_typer(incidents_app, name="incidents")
app.add_typer(ti_app, name="ti")
app.add_typer(plan_app, name="plan")
app.add_typer(connectors_app, name="connectors")
app.add_typer(actuator_app, name="actuator")
app.add_typer(autonomy_app, name="autonomy")
app.add_typer(containments_app, name="containments")
app.command("codec-server")(codec_server)
app.add_typer(audit_app, name="audit")

EXPECTED_ERRORS = (SettingsError, TemporalUnavailable, DevStackError)


def _settings() -> Settings:
    """The service's settings; a variable it does not know (a misspelt one) stops it, naming the closest."""
    settings = settings_or_fail()
    texts = [_text(path) for path in (settings.connectors_file, settings.ti_feeds_file) if path is not None]
    unknown = unknown_variables(os.environ, referenced_names(texts))
    if unknown:
        raise fail("; ".join(unknown), 2)
    setup_logging(settings.log_level, settings.log_format, settings_secrets(settings))
    return settings


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""  # a missing file is reported by the component that reads it, with its name


def _run(settings: Settings, roles: Roles) -> None:
    try:
        asyncio.run(run_service(settings, roles))
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc), 1) from None
    except KeyboardInterrupt:
        pass


@app.command()
def serve() -> None:
    """Run the API and the worker in one process (what `python main.py` does)."""
    _run(_settings(), Roles(worker=True, api=True))


@app.command()
def worker() -> None:
    """Run only the Temporal worker (workflows, activities); /metrics on XORB_METRICS_PORT if set."""
    _run(_settings(), Roles(worker=True, api=False))


@app.command()
def api() -> None:
    """Run only the HTTP API."""
    _run(_settings(), Roles(worker=False, api=True))


@app.command()
def dev(
    data_dir: Annotated[Path, typer.Option(help="Where Temporal's SQLite database, logs and the API key live.")] = Path(
        ".xorb-dev"
    ),
    api_port: Annotated[int, typer.Option(help="API port (0 = any free port).")] = 8000,
    temporal_port: Annotated[int, typer.Option(help="Temporal frontend port (0 = any free port).")] = 7233,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port (0 = any free port).")] = 8233,
    redis_port: Annotated[int, typer.Option(help="Redis port (0 = any free port); unused when REDIS_URL is set.")] = 0,
    api_key: Annotated[
        str | None,
        typer.Option(help="API key to accept; by default one is generated and kept in the data directory."),
    ] = None,
) -> None:
    """The embedded default: a real Temporal dev server and Redis, plus the worker and the API, in one go."""
    settings = _settings()
    try:
        asyncio.run(_dev(settings, data_dir, api_port, temporal_port, ui_port, redis_port, api_key))
    except EXPECTED_ERRORS as exc:
        raise fail(str(exc), 1) from None
    except KeyboardInterrupt:
        pass


async def _dev(
    settings: Settings,
    data_dir: Path,
    api_port: int,
    temporal_port: int,
    ui_port: int,
    redis_port: int,
    api_key: str | None,
) -> None:
    started = time.monotonic()
    use_own_redis = "redis_url" not in settings.model_fields_set
    stack = DevStack(
        data_dir=data_dir,
        temporal_port=choose_port(temporal_port, "Temporal", "--temporal-port"),
        ui_port=choose_port(ui_port, "the Temporal UI", "--ui-port"),
        redis_port=choose_port(redis_port, "Redis", "--redis-port") if use_own_redis else None,
        namespace=settings.temporal_namespace,
    )
    api_port = choose_port(api_port, "the API", "--api-port")
    key = load_or_create_api_key(data_dir, api_key)
    api_url = f"http://127.0.0.1:{api_port}"
    # The console needs a person's key: one bound to whoever runs `xorb dev`, unless they bring their own file.
    person, console_key, key_file = None, None, settings.api_key_file
    if key_file is None:
        person = dev_console_person(settings.guardrail_approver_roles)
        console_key, key_file = write_console_key_file(data_dir, *person)
    await stack.start()
    try:
        dev_settings = settings.model_copy(
            update={
                "temporal_host": stack.temporal_address,
                "redis_url": stack.redis_url or settings.redis_url,
                "api_host": "127.0.0.1",
                "api_port": api_port,
                "api_keys": ",".join(filter(None, [key, settings.api_keys])),
                "api_key_file": key_file,
                "temporal_ui_url": settings.temporal_ui_url or stack.ui_url,
                "public_url": settings.public_url or api_url,  # approval notices link to the console here
            }
        )
        endpoints = {
            "api_url": api_url,
            "temporal_address": stack.temporal_address,
            "ui_url": stack.ui_url,
            "console_url": f"{api_url}/",
            "metrics_url": f"{api_url}/metrics",
            "redis_url": dev_settings.redis_url,
        }

        if person is not None:
            console = (
                f"  Console      {api_url}/   (sign in with the console key)\n"
                f"  Console key  {console_key}   ({person[0]}: {person[1].replace(',', ', ')})\n"
            )
        else:
            console = f"  Console      {api_url}/   (sign in with a person's key from {key_file})\n"

        async def announce() -> None:
            path = write_endpoints(data_dir, endpoints)
            typer.echo(
                f"\nxorb-orchestrator {__version__} is ready ({time.monotonic() - started:.1f}s)\n"
                f"{console}"
                f"  API          {api_url}   (OpenAPI docs: {api_url}/docs)\n"
                f"  Temporal UI  {stack.ui_url}\n"
                f"  Metrics      {api_url}/metrics\n"
                f"  API key      {key}\n"
                f"  Data         {data_dir}   (endpoints: {path})\n"
                f"Send an alert:\n"
                f"  curl -s -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' \\\n"
                f"    -d '{json.dumps(_EXAMPLE_ALERT)}' {api_url}/v1/alerts\n"
                f"Stop with Ctrl-C.\n"
            )
            sys.stdout.flush()

        await run_service(dev_settings, Roles(worker=True, api=True), on_ready=announce)
    finally:
        stack.stop()


_EXAMPLE_ALERT = {
    "title": "Outbound C2 beacon",
    "severity": "high",
    "source": "curl",
    "rule": "c2-beacon",
    "observables": {"src_ip": "10.0.0.5", "dest_ip": "192.0.2.10"},
}


@app.command("webhook-sink")
def webhook_sink(
    port: Annotated[int, typer.Option(help="Port to listen on (0 = any free port).")] = 9000,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """A local webhook receiver that prints every notification it gets (one JSON line each)."""
    from xorb_orchestrator.devtools.webhook_sink import WebhookSink

    def echo(item: dict[str, object]) -> None:
        typer.echo(json.dumps(item["body"]))

    try:
        sink = WebhookSink(host, port, echo=echo).start()
    except OSError as exc:
        raise fail(f"--port: cannot listen on {host}:{port}: {exc.strerror}", 1) from None
    typer.echo(f"listening on {sink.url} (set XORB_NOTIFY_WEBHOOK_URLS={sink.url}); Ctrl-C to stop", err=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sink.stop()


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="xorb")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        # The Temporal SDK's native threads can crash interpreter shutdown (sdk-python#300) and turn
        # a clean one-line error into an abort; everything is flushed and stopped by now, so leave at once.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
