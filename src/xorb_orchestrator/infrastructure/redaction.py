"""Secrets out of log lines: the settings' secret endpoints and credentials, and credentials any line may carry."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from xorb_orchestrator.config import Settings, SettingsError

STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Extras no formatter writes: uvicorn's ANSI-coloured copy of the message, and the Temporal core's
# native log entry (its target and fields are already in the forwarded message).
NOT_OUTPUT = {"color_message", "temporal_log"}

REDACTED = "…[redacted]"
# Shorter "secrets" would redact ordinary words and numbers everywhere; nothing that short is a credential.
_MIN_SECRET = 4

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")

# Credentials any log line may carry, whether or not the settings named them.
_NOT_REDACTED = rf"(?!{re.escape(REDACTED)})"
_SECRET_NAME = r"[a-z0-9_.-]*?(?:token|api[_-]?key|apikey|access[_-]?key|secret|passw(?:or)?d|pwd|signature|sig|auth)"
_GENERIC: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:pass@host -> scheme://…[redacted]@host (greedy up to the authority's last '@')
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/?#'\"<>]*@"), rf"\1{REDACTED}@"),
    # Authorization: Bearer x, ('authorization', 'Basic x'), authorization=x
    (
        re.compile(
            rf"(?i)(\bauthorization\b['\"]?\s*[:=,]\s*(?:b?['\"])?(?:(?:bearer|basic|token|apikey)\s+)?){_NOT_REDACTED}"
            r"[^\s'\",;}\])]+"
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(rf"(?i)(\bbearer\s+){_NOT_REDACTED}[a-z0-9._~+/=-]+"), rf"\1{REDACTED}"),
    # token=x, ?api_key=x, password=x
    (
        re.compile(rf"(?i)((?<![a-z0-9_.-]){_SECRET_NAME}\s*=){_NOT_REDACTED}[^\s&'\",;)}}\]]+"),
        rf"\1{REDACTED}",
    ),
    # {"token": "x"}, {'api_key': 'x'} (dict and JSON text)
    (
        re.compile(rf"(?i)(['\"]{_SECRET_NAME}['\"]\s*:\s*['\"]?){_NOT_REDACTED}[^\s'\",}}\]]+"),
        rf"\1{REDACTED}",
    ),
)
# Only text with one of these can match a generic rule: most log lines skip the substitutions.
_MAYBE_GENERIC = re.compile(r"(?i)[@=]|bearer|authorization|['\"]\s*:")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text) if "\x1b" in text else text


class Redactor:
    """Replaces known secrets (a str.replace or one compiled regex each, only when the text contains them) and
    credentials the generic rules recognise.

    A secret with "://" is an endpoint whose path and query are the secret (a Slack-style webhook URL): they
    become "…[redacted]" wherever they appear, so the URL keeps its scheme and host. Any other string is a
    credential (an API key, a password), replaced wherever it appears."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found: dict[str, str] = {}
        endpoints: dict[str, str] = {}
        for secret in secrets:
            secret = secret.strip()
            if "://" in secret:
                found.update(_endpoint_credentials(secret))
                endpoints.update(_endpoint_paths(secret))
            elif len(secret) >= _MIN_SECRET:
                found[secret] = REDACTED
        # A path is replaced where it is not a host's tail: the path "/hook" must leave "https://hooks.x" alone.
        for piece, replacement in endpoints.items():
            found.setdefault(piece, replacement)
        # Longest first: a secret that contains another one is replaced whole.
        self._known = [
            (secret, re.compile(rf"(?<!/){re.escape(secret)}") if secret in endpoints else None, replacement)
            for secret, replacement in sorted(found.items(), key=lambda item: -len(item[0]))
        ]

    def redact(self, text: str) -> str:
        for secret, pattern, replacement in self._known:
            if secret in text:
                text = pattern.sub(replacement, text) if pattern else text.replace(secret, replacement)
        if _MAYBE_GENERIC.search(text):
            for generic, substitute in _GENERIC:
                text = generic.sub(substitute, text)
        return text


def _endpoint_credentials(url: str) -> dict[str, str]:
    return {credential: REDACTED for credential in url_credentials(url) if len(credential) >= _MIN_SECRET}


def _endpoint_paths(url: str) -> dict[str, str]:
    """A secret endpoint's path and query (what comes after the host as configured, then each alone, as
    written and percent-decoded: an HTTP client may log any of them), each with its replacement."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return {}
    after_host = url[url.find(parts.netloc) + len(parts.netloc) :] if parts.netloc else ""
    found: dict[str, str] = {}
    for piece in (after_host, parts.path, parts.query):
        if len(piece) >= _MIN_SECRET and piece != "/":
            for form in (piece, unquote(piece)):
                found[form] = "/" + REDACTED if form.startswith("/") else REDACTED
    return found


def url_credentials(url: str) -> list[str]:
    """The password in a URL's userinfo, as written and decoded. (A user name alone, "default" say, is not
    hidden everywhere; the generic rule strips any URL's userinfo.)"""
    try:
        password = urlsplit(url).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


def settings_secrets(settings: Settings) -> list[str]:
    """What no log line may show: the notify webhook URLs (their path and query), credentials in any URL
    setting, the API keys (XORB_API_KEYS, the key file, XORB_API_KEY) and TEMPORAL_API_KEY."""
    secrets = [*settings.webhook_urls]
    for url in (settings.redis_url, settings.client_api_url):
        secrets += url_credentials(url)
    secrets += [key for key in (settings.temporal_api_key, settings.client_api_key) if key]
    secrets += [part.split(":", 1)[1] for part in settings.payload_keys.split(",") if ":" in part]  # key material
    try:
        secrets += [entry.secret for entry in settings.load_api_key_entries()]
    except SettingsError:
        # The service refuses to start with unreadable keys (and says why without them); until it stops,
        # hide every word of XORB_API_KEYS.
        secrets += (settings.api_keys or "").replace(",", " ").split()
    return secrets


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, exception text, stack and extras with its secrets redacted, before any
    formatter sees it. On the handler, so it covers every logger (httpx, uvicorn, the Temporal core)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.redactor.redact
        try:
            message = record.getMessage()
            broken = False
        except Exception:
            # Arguments that do not fit the format: logging would print them raw to stderr; show them redacted.
            message, broken = f"{record.msg} {record.args!r}", True
        redacted = redact(message)
        if broken or redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = _EXCEPTIONS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in STANDARD_ATTRS and key not in NOT_OUTPUT and not key.startswith("_"):
                cleaned = self._clean(value)
                if cleaned is not value:
                    setattr(record, key, cleaned)
        return True

    def _clean(self, value: Any) -> Any:
        """`value` with its strings redacted; the same object when nothing changed."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            redacted = self.redactor.redact(value)
            return value if redacted == value else redacted
        if isinstance(value, dict):
            items = {k: self._clean(v) for k, v in value.items()}
            return value if all(items[k] is v for k, v in value.items()) else items
        if isinstance(value, list | tuple):
            cleaned = [self._clean(v) for v in value]
            return value if all(c is v for c, v in zip(cleaned, value, strict=True)) else cleaned
        # Anything else is written as str(value) (JsonFormatter's default): redact that.
        text = str(value)
        redacted = self.redactor.redact(text)
        return value if redacted == text else redacted


_EXCEPTIONS = logging.Formatter()
