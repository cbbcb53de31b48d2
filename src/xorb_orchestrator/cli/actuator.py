"""`xorb actuator`: the OpenC2 actuators we ship. `slpf` is a stateless packet filter on nftables (docs/openc2.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from xorb_orchestrator.actuator.consumer import SlpfConsumer
from xorb_orchestrator.actuator.endpoint import EndpointError, endpoint
from xorb_orchestrator.actuator.nft_rules import SlpfFirewall
from xorb_orchestrator.actuator.server import run
from xorb_orchestrator.actuator.state import StateDir, StateError
from xorb_orchestrator.actuator.tls import TlsError, server_context
from xorb_orchestrator.cli.connection import fail, settings_or_fail
from xorb_orchestrator.infrastructure.logs import setup_logging
from xorb_orchestrator.infrastructure.nftables import NftError
from xorb_orchestrator.infrastructure.redaction import settings_secrets
from xorb_orchestrator.infrastructure.secrets import SecretUnavailable, resolve_secret

API_KEYS = "env:XORB_ACTUATOR_API_KEYS"
STATE_DIR = Path(".xorb-actuator")

actuator_app = typer.Typer(help="OpenC2 actuators we ship: slpf, a stateless packet filter on nftables.")


@actuator_app.command("slpf")
def slpf(
    listen: Annotated[
        str, typer.Option(help="HOST:PORT to listen on (port 0: any free one); plain HTTP only on loopback.")
    ],
    tls_cert: Annotated[
        Path | None, typer.Option(help="Server certificate (PEM, with its chain) for HTTPS.", dir_okay=False)
    ] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The certificate's private key (PEM).", dir_okay=False)] = None,
    tls_client_ca: Annotated[
        Path | None,
        typer.Option(
            help="CA (PEM) that client certificates must chain to; given, every client needs one.", dir_okay=False
        ),
    ] = None,
    table: Annotated[str, typer.Option(help="The nftables table (family inet) to act in.")] = "xorb",
    netns: Annotated[
        str | None, typer.Option(help="Act on this network namespace's nftables (listening stays on the host's).")
    ] = None,
    state_dir: Annotated[Path, typer.Option(help="Where the rules are kept across restarts.")] = STATE_DIR,
) -> None:
    """An OpenC2 SLPF consumer: deny/allow addresses, ranges and connections on this host's nftables.

    Commands are POSTed to /openc2 with `Authorization: Bearer <key>`, a key from XORB_ACTUATOR_API_KEYS
    (comma-separated), or over HTTPS with a client certificate when --tls-client-ca is given.
    """
    settings = settings_or_fail()
    keys = _api_keys()
    setup_logging(settings.log_level, settings.log_format, [*settings_secrets(settings), *keys])
    try:
        where = endpoint(listen, tls_cert, tls_key, tls_client_ca, keys)
        tls = server_context(tls_cert, tls_key, tls_client_ca) if tls_cert and tls_key else None
        firewall = SlpfFirewall(table.removeprefix("inet ").strip(), netns)
    except (EndpointError, TlsError, ValueError) as exc:
        raise fail(str(exc), 2) from None
    consumer = SlpfConsumer(firewall, StateDir(state_dir))

    def announce(url: str) -> None:
        typer.echo(f"xorb actuator slpf: listening on {url}, acting on {firewall.where}", err=True)

    try:
        asyncio.run(run(consumer, where, keys, tls, announce))
    except (EndpointError, StateError, NftError) as exc:
        raise fail(str(exc), 1) from None
    except KeyboardInterrupt:
        pass


def _api_keys() -> list[str]:
    """The keys in XORB_ACTUATOR_API_KEYS (none when it is unset or empty)."""
    try:
        value = resolve_secret(API_KEYS)
    except SecretUnavailable as exc:
        if "control character" in str(exc):  # set, but unusable: say so rather than "no keys"
            raise fail(str(exc), 2) from None
        return []
    return [key.strip() for key in value.split(",") if key.strip()]
