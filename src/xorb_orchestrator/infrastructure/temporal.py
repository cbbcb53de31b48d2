"""Connecting to Temporal (plain, mTLS or API key) with the pydantic data converter (and the payload codec)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from xorb_orchestrator.config import Settings
from xorb_orchestrator.config.payload_keys import parse_payload_keys
from xorb_orchestrator.infrastructure.codec import EncryptionCodec
from xorb_orchestrator.models.search_attributes import SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)


class TemporalUnavailable(Exception):
    """Temporal cannot be reached or refused us; the message says which address and why."""


def _tls(settings: Settings) -> TLSConfig | bool:
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        return TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
            server_root_ca_cert=settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None,
        )
    # Temporal Cloud with an API key always speaks TLS.
    return bool(settings.temporal_api_key)


_runtime: Runtime | None = None
_sdk_metrics_url: str | None = None


def _core_logging(level: int) -> LoggingConfig:
    """The SDK core's (Rust) logs forwarded to the "temporalio.core" logger, so they come out through our
    handler: our format, our redaction, no ANSI text of the core's own on stderr. `level` is Python's.

    The core follows LOG_LEVEL at DEBUG and stays at WARN (the SDK's default) at INFO; other native crates
    (gRPC, HTTP/2) speak only at WARN even at DEBUG: theirs is a line per frame."""
    if level <= logging.DEBUG:
        core, other = "DEBUG", "WARN"
    elif level <= logging.WARNING:
        core, other = "WARN", "ERROR"
    else:
        core, other = "ERROR", "ERROR"
    return LoggingConfig(
        filter=TelemetryFilter(core_level=core, other_level=other),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )


def sdk_runtime(metrics_bind: str = "127.0.0.1:0") -> tuple[Runtime, str | None]:
    """One Temporal runtime per process, with the SDK's Prometheus exporter on a local port and the core's
    logs in Python logging, at the level setup_logging set (the runtime is made once, after it)."""
    global _runtime, _sdk_metrics_url
    if _runtime is None:
        from xorb_orchestrator.infrastructure.ports import free_port

        host, _, port = metrics_bind.rpartition(":")
        bind = f"{host}:{port if port != '0' else free_port(host)}"
        _runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=_core_logging(logging.getLogger("temporalio.core").getEffectiveLevel()),
                metrics=PrometheusConfig(bind_address=bind),
            )
        )
        _sdk_metrics_url = f"http://{bind}/metrics"
    return _runtime, _sdk_metrics_url


def data_converter(settings: Settings) -> DataConverter:
    """Pydantic values; with XORB_PAYLOAD_KEYS, every payload encrypted, and failures' messages and stack traces
    moved into an encrypted payload too (they can quote alert content: an exception names a bad value)."""
    keys = parse_payload_keys(settings.payload_keys)
    if not keys:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """Connect, trying again until TEMPORAL_CONNECT_TIMEOUT has passed (a worker started while Temporal restarts
    waits for it instead of exiting); else raise TemporalUnavailable with one line naming TEMPORAL_HOST."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.temporal_connect_timeout
    pause = 0.25
    while True:
        try:
            return await asyncio.wait_for(
                Client.connect(
                    settings.temporal_host,
                    namespace=settings.temporal_namespace,
                    tls=_tls(settings),
                    api_key=settings.temporal_api_key,
                    data_converter=data_converter(settings),
                    runtime=runtime or sdk_runtime()[0],
                ),
                timeout=max(0.1, deadline - loop.time()),
            )
        except (RPCError, RuntimeError, OSError, TimeoutError) as exc:
            if loop.time() + pause >= deadline:
                raise _unreachable(settings, exc) from None
            log.debug("Temporal at %s not reachable yet (%s); trying again", settings.temporal_host, exc)
            await asyncio.sleep(pause)
            pause = min(2.0, pause * 2)


def _unreachable(settings: Settings, exc: BaseException) -> TemporalUnavailable:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return TemporalUnavailable(
        f"TEMPORAL_HOST: cannot reach Temporal at {settings.temporal_host} "
        f"(namespace {settings.temporal_namespace!r}): {reason}; start Temporal or set TEMPORAL_HOST"
    )


async def ensure_search_attributes(client: Client, namespace: str) -> None:
    """Register our custom search attributes if missing. Self-hosted only; Cloud needs them made by hand."""
    missing = {key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES}
    try:
        try:
            existing = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
            missing = {k: v for k, v in missing.items() if k not in existing.custom_attributes}
        except RPCError as exc:
            if exc.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server cannot list
                raise
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
            log.info("registered search attributes %s", ", ".join(sorted(missing)))
    except RPCError as exc:
        log.warning(
            "could not register search attributes %s (%s); create them as Keyword attributes by hand",
            ", ".join(k.name for k in SEARCH_ATTRIBUTES),
            exc.message,
        )
