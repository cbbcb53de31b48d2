"""`xorb codec-server`: decrypts payloads for the Temporal Web UI and `temporal` CLI (remote codec protocol)."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from xorb_orchestrator.api.codec_server import codec_app
from xorb_orchestrator.cli.connection import fail, settings_or_fail
from xorb_orchestrator.config.payload_keys import parse_payload_keys
from xorb_orchestrator.infrastructure.codec import EncryptionCodec
from xorb_orchestrator.infrastructure.logs import setup_logging
from xorb_orchestrator.infrastructure.redaction import settings_secrets
from xorb_orchestrator.infrastructure.secrets import SecretUnavailable, resolve_secret

# Like every other secret of ours: from the environment, never a flag (`ps` shows those).
TOKEN = "env:XORB_CODEC_SERVER_TOKEN"


def codec_server(
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "127.0.0.1:8081",
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(help="The Temporal Web UI's origin, e.g. http://localhost:8233 (repeatable).", show_default=False),
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Serve HTTPS with this certificate (PEM).")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="The certificate's private key (PEM).")] = None,
) -> None:
    """Serve the payload codec, so the Temporal Web UI and CLI show encrypted histories.

    POST /encode and /decode with the keys of XORB_PAYLOAD_KEYS (the Web UI's codec endpoint, `temporal
    --codec-endpoint`). XORB_CODEC_SERVER_TOKEN set: requests need `Authorization: Bearer <token>`."""
    settings = settings_or_fail()
    token = _token()
    keys = parse_payload_keys(settings.payload_keys)
    if not keys:
        raise fail("XORB_PAYLOAD_KEYS is not set: the codec server has no key to encrypt or decrypt with", 2)
    if (tls_cert is None) != (tls_key is None):
        raise fail("--tls-cert and --tls-key go together", 2)
    for option, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            raise fail(f"{option}: no readable file at {path}", 2)
    host, port = _listen_address(listen)
    key_text = [entry.partition(":")[2].strip() for entry in settings.payload_keys.split(",")]
    setup_logging(settings.log_level, settings.log_format, [*settings_secrets(settings), *key_text, token or ""])
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise fail(f"--listen: cannot listen on {listen} ({reason})", 1) from None
    scheme = "https" if tls_cert else "http"
    app = codec_app(EncryptionCodec(keys), token=token, cors_origins=cors_origin or ())
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
    )
    try:
        config.load()  # reads the certificate now: a bad one is one line, not a traceback from the server
    except OSError as exc:  # ssl.SSLError included
        raise fail(f"--tls-cert/--tls-key: cannot use them ({exc.strerror or exc})", 2) from None
    if not _loopback(host) and tls_cert is None:
        typer.echo(
            f"xorb: warning: serving decrypted payloads on {host} without TLS; pass --tls-cert/--tls-key", err=True
        )
    if not token:
        typer.echo("xorb: warning: no XORB_CODEC_SERVER_TOKEN: anyone who reaches the port can decrypt", err=True)
    shown_host = f"[{host}]" if ":" in host else host
    typer.echo(
        f"codec server on {scheme}://{shown_host}:{sock.getsockname()[1]} (encrypts with {keys[0][0]!r}, "
        f"decrypts {', '.join(repr(k) for k, _ in keys)}); Ctrl-C to stop",
        err=True,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _token() -> str | None:
    try:
        return resolve_secret(TOKEN)
    except SecretUnavailable as exc:
        if "control character" in str(exc):  # set, but unusable: say so rather than serve without it
            raise fail(str(exc), 2) from None
        return None


def _listen_address(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise fail(f"--listen: expected HOST:PORT, e.g. 127.0.0.1:8081, got {listen!r}", 2)
    return host, int(port)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere
