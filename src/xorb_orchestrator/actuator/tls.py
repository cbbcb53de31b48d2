"""The server's TLS, as the HTTPS transfer specification (3.2.3) asks: TLS 1.2 or later, no SSL, TLS 1.2 only with
forward-secret AEAD suites (none of RFC 7540's blocked list), and client certificates verified when required."""

from __future__ import annotations

import ssl
from pathlib import Path

# TLS 1.2 suites: ECDHE with AES-GCM or ChaCha20-Poly1305 only. TLS 1.3 suites are all acceptable as they are.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


class TlsError(ValueError):
    """A certificate, key or CA file cannot be used; the message names the option and why."""


def server_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"--tls-cert/--tls-key: cannot use {cert} with {key}: {_reason(exc)}") from None
    if client_ca is not None:
        try:
            context.load_verify_locations(client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(f"--tls-client-ca: cannot use {client_ca}: {_reason(exc)}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return exc.strerror or str(exc)
