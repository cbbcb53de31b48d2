"""Logging set-up: text for people, JSON lines for machines; every incident line carries its id; no secrets."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from temporalio.exceptions import ApplicationError

from xorb_orchestrator.infrastructure.redaction import (
    NOT_OUTPUT,
    STANDARD_ATTRS,
    RedactingFilter,
    Redactor,
    strip_ansi,
)


def incident_id_of(record: logging.LogRecord) -> str | None:
    """The incident a log line is about: explicit `incident_id`, or the Temporal workflow id."""
    explicit = getattr(record, "incident_id", None)
    if explicit:
        return str(explicit)
    for key in ("temporal_workflow", "temporal_activity"):
        info = getattr(record, key, None)
        if isinstance(info, dict):
            wf_id = info.get("workflow_id")
            if isinstance(wf_id, str) and wf_id.startswith("incident-"):
                return wf_id
    return None


def _without_ansi(value: Any) -> Any:
    if isinstance(value, str):
        return strip_ansi(value)
    if isinstance(value, dict):
        return {k: _without_ansi(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_ansi(v) for v in value]
    return value


def _json_default(value: object) -> str:
    return strip_ansi(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object a line, with no terminal escapes anywhere in it."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": strip_ansi(record.getMessage()),
        }
        incident = incident_id_of(record)
        if incident:
            line["incident_id"] = incident
        for key, value in vars(record).items():
            if key not in STANDARD_ATTRS and key not in NOT_OUTPUT and key not in line and not key.startswith("_"):
                line[key] = _without_ansi(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = strip_ansi(record.exc_text)
        if record.stack_info:
            line["stack"] = strip_ansi(record.stack_info)
        return json.dumps(line, default=_json_default)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        incident = incident_id_of(record)
        if incident and incident not in text:
            text += f" [incident_id={incident}]"
        return text


class ExpectedFailureFilter(logging.Filter):
    """Temporal logs every failed activity attempt with a traceback. Our activities raise
    ApplicationError for expected failures (a tool said no, a webhook was down): one line is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ApplicationError):
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {error.type or 'ApplicationError'}: {error.message}"
            record.args = None
            record.exc_info = None
        return True


def setup_logging(level: str, fmt: str, secrets: Iterable[str] = ()) -> None:
    """One stderr handler for every logger, in `fmt` ("text" or "json"), with `secrets` (and credentials the
    generic rules recognise) redacted from every line: see `settings_secrets`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ExpectedFailureFilter())
    # After ExpectedFailureFilter, which folds the exception's message into the record's.
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Python warnings would go to stderr in their own format, unredacted: send them through the handler.
    logging.captureWarnings(True)
    # Temporal's loggers append a dict of workflow info to every message; we show the incident id
    # instead (a field in JSON, a suffix in text) and keep the full info in the record's extras.
    from temporalio import activity, workflow

    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    # Access logs would carry request headers' worth of noise; keep them at WARNING unless debugging.
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(level if level == "DEBUG" else "WARNING")
