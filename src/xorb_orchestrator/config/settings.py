"""All configuration, read from the environment and validated once at start-up."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from xorb_orchestrator.config.api_keys import ApiKeyEntry, ApiKeyError, merge_keys, parse_env_keys, parse_key_file
from xorb_orchestrator.config.budgets import DEFAULT_BUDGETS, BudgetSpec, parse_budgets
from xorb_orchestrator.config.payload_keys import parse_payload_keys
from xorb_orchestrator.config.playbook_inputs import parse_auto_playbooks, parse_playbook_inputs

# The bundled playbooks (package data), XORB_PLAYBOOKS_DIR's default; playbook/catalog.py names the same place.
BUNDLED_PLAYBOOKS = Path(__file__).resolve().parents[1] / "playbooks"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Network = IPv4Network | IPv6Network
# What decides an alert's correlation window: when it arrived, or when it happened (its own time).
CorrelationClock = Literal["event", "arrival"]

# RFC 1918 and IPv6 unique local addresses (RFC 4193). Not the documentation ranges (192.0.2.0/24 ...), which
# Python's is_private counts: nothing is ours by accident. Loopback and link-local are never ours nor targets.
DEFAULT_INTERNAL_NETWORKS = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
ASSET_FILE_SUFFIXES = (".yaml", ".yml", ".csv")


class SettingsError(Exception):
    """A setting is missing or has a bad value; the message is one line meant for the operator."""


class Settings(BaseSettings):
    """Every knob of the service. Field aliases are the exact environment variable names."""

    # hide_input_in_errors: a bad secret-bearing value must not be echoed by pydantic's own message.
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    # The original design's three, under exactly these names.
    temporal_host: str = Field("localhost:7233", alias="TEMPORAL_HOST")
    log_level: LogLevel = Field("INFO", alias="LOG_LEVEL")
    max_parallel_workflows: int = Field(10, ge=1, le=10_000, alias="MAX_PARALLEL_WORKFLOWS")

    temporal_namespace: str = Field("default", min_length=1, alias="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field("xorb-incidents", min_length=1, alias="TEMPORAL_TASK_QUEUE")
    # Secured Temporal: mTLS client certificate (self-hosted or Cloud) or an API key (Cloud).
    temporal_tls_cert: Path | None = Field(None, alias="TEMPORAL_TLS_CERT")
    temporal_tls_key: Path | None = Field(None, alias="TEMPORAL_TLS_KEY")
    temporal_tls_ca: Path | None = Field(None, alias="TEMPORAL_TLS_CA")
    temporal_api_key: str | None = Field(None, alias="TEMPORAL_API_KEY", repr=False)
    temporal_connect_timeout: float = Field(10.0, gt=0, alias="TEMPORAL_CONNECT_TIMEOUT")
    # AES keys for the payload codec ("id:base64key,..."; the first encrypts, all decrypt): Temporal's history holds
    # ciphertext only. Empty: payloads are stored in clear. See docs/security.md.
    payload_keys: str = Field("", alias="XORB_PAYLOAD_KEYS", repr=False)

    redis_url: str = Field("redis://localhost:6379/0", alias="REDIS_URL")

    log_format: Literal["text", "json"] = Field("text", alias="LOG_FORMAT")

    api_host: str = Field("127.0.0.1", alias="XORB_API_HOST")
    api_port: int = Field(8000, ge=0, le=65535, alias="XORB_API_PORT")
    # Where people reach the API (and the console), for the links in notifications; none: no link.
    public_url: str = Field("", alias="XORB_PUBLIC_URL")
    temporal_ui_url: str = Field("", alias="XORB_TEMPORAL_UI_URL")
    api_keys: str | None = Field(None, alias="XORB_API_KEYS", repr=False)
    api_key_file: Path | None = Field(None, alias="XORB_API_KEY_FILE")
    # Whether a service key (one not bound to a person) may name the approver in X-Xorb-Approver/X-Xorb-Roles:
    # "trust" (the dev stack, or a proxy that authenticates people and sets the headers) or "refuse".
    approver_headers: Literal["trust", "refuse"] = Field("trust", alias="XORB_APPROVER_HEADERS")
    alert_max_bytes: int = Field(1_048_576, ge=1024, alias="XORB_ALERT_MAX_BYTES")
    # Where `xorb alerts send|follow` find the API, and the key they present.
    client_api_url: str = Field("http://127.0.0.1:8000", alias="XORB_API_URL")
    client_api_key: str | None = Field(None, alias="XORB_API_KEY", repr=False)
    # How many workflows a worker keeps in memory between their tasks (Temporal's sticky cache); lower saves
    # memory with many open incidents, at the cost of replays (bench/memory.py). At least 100: with none, every
    # task replays its whole history and the slot coordinator falls behind (bench/latency.py at 5/s: half the
    # actions still missing a minute on); far below, it and the incidents being answered evict each other.
    max_cached_workflows: int = Field(1000, ge=100, le=100_000, alias="XORB_MAX_CACHED_WORKFLOWS")
    # Temporal's workflow sandbox: a determinism check for our workflow code (it re-imports the workflow modules for
    # every run and refuses non-deterministic calls), not a security boundary. The test suite and every replay check
    # run it; a worker by default runs the checked code without it, ~18 ms of CPU less an incident.
    workflow_sandbox: bool = Field(False, alias="XORB_WORKFLOW_SANDBOX")
    # Port for the worker-only process (`xorb worker`) to serve /metrics; 0 disables.
    metrics_port: int = Field(0, ge=0, le=65535, alias="XORB_METRICS_PORT")

    notify_webhook_urls: str = Field("", alias="XORB_NOTIFY_WEBHOOK_URLS")
    # Correlation window: alerts with the same key less than this apart join one incident, which
    # stays open (after its response) until the window has passed without a new alert. 0 = none.
    correlation_window_seconds: float = Field(
        600.0,
        ge=0,
        le=30 * 24 * 3600,
        validation_alias=AliasChoices("XORB_CORRELATION_WINDOW_SECONDS", "XORB_INCIDENT_LINGER_SECONDS"),
    )
    # Per source, the alert fields whose values form the correlation key, e.g.
    # "suricata=rule,src_ip;wazuh=rule,hostname". Sources not named use DEFAULT_CORRELATION_FIELDS.
    correlation_keys: str = Field("", alias="XORB_CORRELATION_KEYS")
    # "event": windows run on the alert's own time, so a replayed file or a catch-up after an outage correlates as it
    # happened (services/correlation.py says which times are believed); "arrival": on when it reached us.
    correlation_clock: CorrelationClock = Field("arrival", alias="XORB_CORRELATION_CLOCK")
    # Hosts the http.request action may call: "name" (any port) or "name:port", comma-separated. Empty: none.
    http_allowed_hosts: str = Field("", alias="XORB_HTTP_ALLOWED_HOSTS")
    # Where the playbooks live (the catalog the API lists, validates against and runs by id).
    playbooks_dir: Path = Field(BUNDLED_PLAYBOOKS, alias="XORB_PLAYBOOKS_DIR")
    # Playbooks that may respond to incidents on their own ("all", "none" or ids), and the inputs the
    # deployment gives them (JSON: {"<playbook id or *>": {"<input>": value}}): see playbook_selection.
    auto_playbooks: str = Field("all", alias="XORB_AUTO_PLAYBOOKS")
    playbook_inputs: str = Field("", alias="XORB_PLAYBOOK_INPUTS", repr=False)
    # Who may let a dry run make its vouched-for lookups (steps marked `dry_run: call`): people (person-bound
    # keys) holding one of these roles. Everyone else's dry runs simulate every call.
    dry_run_lookup_roles: str = Field("soc-lead,playbook-author", alias="XORB_DRY_RUN_LOOKUP_ROLES")
    # What is ours: these networks (comma-separated CIDRs) and everything in the asset inventory.
    internal_networks: str = Field(DEFAULT_INTERNAL_NETWORKS, alias="XORB_INTERNAL_NETWORKS")
    # The asset inventory (YAML or CSV: policy/assets.py); none: only XORB_INTERNAL_NETWORKS is ours.
    assets_file: Path | None = Field(None, alias="XORB_ASSETS_FILE")
    # The response policy (policy/response_policy.py); none: the bundled conservative one.
    policy_file: Path | None = Field(None, alias="XORB_POLICY_FILE")
    # The threat-intelligence feeds to import (intel/).
    ti_feeds_file: Path | None = Field(None, alias="XORB_TI_FEEDS_FILE")
    # The connections to security tools, credentials by reference (connectors/).
    connectors_file: Path | None = Field(None, alias="XORB_CONNECTORS_FILE")
    # The audit log's anchor file (docs/audit.md): every 100th entry's hash is appended here; none: no anchors.
    audit_anchor_file: Path | None = Field(None, alias="XORB_AUDIT_ANCHOR_FILE")
    # Guardrails (docs/guardrails.md): the blast-radius budgets, and who decides an effect a guardrail holds
    # (over budget, kill switch on, one-way without a person's approval), by when, before it is denied.
    budgets: str = Field(DEFAULT_BUDGETS, alias="XORB_BUDGETS")
    guardrail_approvers: str = Field("soc-lead", alias="XORB_GUARDRAIL_APPROVERS")
    guardrail_approval_timeout_seconds: float = Field(
        3600.0, ge=10, le=7 * 86_400, alias="XORB_GUARDRAIL_APPROVAL_TIMEOUT_SECONDS"
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("log_format", "approver_headers", mode="before")
    @classmethod
    def _format_lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("temporal_host")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("expected host:port, e.g. localhost:7233")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("public_url", "temporal_ui_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("notify_webhook_urls")
    @classmethod
    def _webhooks(cls, value: str) -> str:
        for url in _split(value):
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"expected comma-separated http(s) URLs, got {url!r}")
        return value

    @field_validator("correlation_window_seconds")
    @classmethod
    def _window(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError("expected 0 (no window) or at least 1 second")
        return value

    @field_validator("correlation_keys")
    @classmethod
    def _correlation_keys(cls, value: str) -> str:
        parse_correlation_keys(value)
        return value

    @field_validator("correlation_clock", mode="before")
    @classmethod
    def _clock_lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("http_allowed_hosts")
    @classmethod
    def _allowed_hosts(cls, value: str) -> str:
        parse_allowed_hosts(value)
        return value

    @field_validator("playbook_inputs")
    @classmethod
    def _playbook_inputs(cls, value: str) -> str:
        parse_playbook_inputs(value)
        return value

    @field_validator("payload_keys")
    @classmethod
    def _payload_keys(cls, value: str) -> str:
        parse_payload_keys(value)
        return value

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, value: str) -> str:
        parse_budgets(value)
        return value

    @field_validator("guardrail_approvers")
    @classmethod
    def _approvers(cls, value: str) -> str:
        if not _split(value):
            raise ValueError("name at least one role that may decide a held effect, e.g. soc-lead")
        return value

    @field_validator("internal_networks")
    @classmethod
    def _internal_networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("playbooks_dir")
    @classmethod
    def _playbooks_dir(cls, value: Path) -> Path:
        # Missing, it used to mean zero playbooks, silently (a typo, or a relative path from elsewhere).
        if not value.is_dir():
            raise ValueError(f"expected a directory that exists, got {str(value)!r} (unset it for the bundled ones)")
        return value

    @field_validator("assets_file")
    @classmethod
    def _assets_format(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() not in ASSET_FILE_SUFFIXES:
            raise ValueError(f"expected a .yaml, .yml or .csv file, got {str(value)!r}")
        return value

    @property
    def dry_run_lookup_role_set(self) -> frozenset[str]:
        """XORB_DRY_RUN_LOOKUP_ROLES as a set of role names."""
        return frozenset(_split(self.dry_run_lookup_roles))

    @property
    def budget_specs(self) -> list[BudgetSpec]:
        return parse_budgets(self.budgets)

    @property
    def guardrail_approver_roles(self) -> list[str]:
        return _split(self.guardrail_approvers)

    @property
    def internal_cidrs(self) -> tuple[Network, ...]:
        """XORB_INTERNAL_NETWORKS as networks."""
        return parse_networks(self.internal_networks)

    @property
    def configured_playbook_inputs(self) -> dict[str, dict[str, Any]]:
        return parse_playbook_inputs(self.playbook_inputs)

    @property
    def auto_playbook_ids(self) -> frozenset[str] | None:
        """XORB_AUTO_PLAYBOOKS: None when every playbook may respond on its own."""
        return parse_auto_playbooks(self.auto_playbooks)

    @property
    def http_allowed(self) -> list[tuple[str, int | None]]:
        """XORB_HTTP_ALLOWED_HOSTS as (lower-case host, port or None for any port)."""
        return parse_allowed_hosts(self.http_allowed_hosts)

    @property
    def correlation_fields(self) -> dict[str, tuple[str, ...]]:
        return parse_correlation_keys(self.correlation_keys)

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together")
        for name, path in (
            ("TEMPORAL_TLS_CERT", self.temporal_tls_cert),
            ("TEMPORAL_TLS_KEY", self.temporal_tls_key),
            ("TEMPORAL_TLS_CA", self.temporal_tls_ca),
            ("XORB_API_KEY_FILE", self.api_key_file),
            ("XORB_ASSETS_FILE", self.assets_file),
            ("XORB_POLICY_FILE", self.policy_file),
            ("XORB_TI_FEEDS_FILE", self.ti_feeds_file),
            ("XORB_CONNECTORS_FILE", self.connectors_file),
        ):
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: no readable file at {path}")
        return self

    @property
    def webhook_urls(self) -> list[str]:
        return _split(self.notify_webhook_urls)

    def load_api_key_entries(self) -> list[ApiKeyEntry]:
        """The accepted keys and the person each belongs to, from XORB_API_KEYS (service keys, comma-separated)
        and XORB_API_KEY_FILE (`<key>` or `<key> <person> [<role>,...]` a line). SettingsError names the
        variable, file and line that are wrong, never the key."""
        try:
            entries = parse_env_keys(self.api_keys or "")
            if self.api_key_file is not None:
                try:
                    text = self.api_key_file.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                    raise ApiKeyError(f"XORB_API_KEY_FILE: cannot read {self.api_key_file} ({reason})") from None
                entries += parse_key_file(text, self.api_key_file)
            return merge_keys(entries)
        except ApiKeyError as exc:
            raise SettingsError(f"invalid configuration: {exc}") from None


DEFAULT_CORRELATION_FIELDS = ("rule", "primary")
CORRELATION_FIELDS = (
    "source", "rule", "title", "product", "primary",
    "src_ip", "dest_ip", "ip", "hostname", "user", "domain", "url", "file_hash", "process",
)  # fmt: skip


def parse_correlation_keys(value: str) -> dict[str, tuple[str, ...]]:
    """'suricata=rule,src_ip;wazuh=rule,hostname' -> {'suricata': ('rule', 'src_ip'), ...}."""
    out: dict[str, tuple[str, ...]] = {}
    for part in value.split(";"):
        if not part.strip():
            continue
        source, sep, fields = part.partition("=")
        names = tuple(f.strip() for f in fields.split(",") if f.strip())
        if not sep or not source.strip() or not names:
            raise ValueError(f"expected source=field,field;... got {part.strip()!r}")
        unknown = [n for n in names if n not in CORRELATION_FIELDS]
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}; expected some of {', '.join(CORRELATION_FIELDS)}")
        out[source.strip()] = names
    return out


def parse_allowed_hosts(value: str) -> list[tuple[str, int | None]]:
    """'api.example, 10.0.0.7:8443, [::1]:9000' -> [('api.example', None), ('10.0.0.7', 8443), ('::1', 9000)]."""
    out: list[tuple[str, int | None]] = []
    for entry in _split(value):
        try:
            parsed = urlsplit("//" + entry)
            host, port = parsed.hostname, parsed.port
        except ValueError:
            host = port = None
            parsed = None
        if parsed is None or not host or parsed.path or parsed.query or parsed.fragment or parsed.username:
            raise ValueError(f"expected comma-separated host names or host:port, got {entry!r}")
        if port == 0:
            raise ValueError(f"expected a port from 1 to 65535, got {entry!r}")
        out.append((host.lower(), port))
    return out


def parse_networks(value: str) -> tuple[Network, ...]:
    """'10.0.0.0/8, fc00::/7, 192.0.2.7' -> networks (an address is its /32 or /128). At least one; host bits
    set (10.0.0.1/8) is refused rather than guessed at."""
    networks: list[Network] = []
    for entry in _split(value):
        try:
            networks.append(ip_network(entry, strict=True))
        except ValueError:
            try:
                guess = ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"expected comma-separated networks (CIDR) such as 10.0.0.0/8, got {entry!r}"
                ) from None
            raise ValueError(f"expected networks without host bits, got {entry!r} (did you mean {guess}?)") from None
    if not networks:
        raise ValueError(f"expected at least one network (CIDR), e.g. the default {DEFAULT_INTERNAL_NETWORKS}")
    return tuple(dict.fromkeys(networks))


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


_EXPECTED = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "float_parsing": "a number",
    "literal_error": None,
    "greater_than_equal": None,
}


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; raise SettingsError with one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """Turn pydantic's error into one operator-facing line per bad variable."""
    parts = []
    for err in exc.errors():
        loc = err.get("loc") or ()
        name = _env_name(str(loc[0])) if loc else ""
        msg = err.get("msg", "invalid value").removeprefix("Value error, ")
        msg = msg.replace("Input should be", "expected")
        expected = _EXPECTED.get(err.get("type", ""))
        if expected:
            msg = f"expected {expected}"
        got = err.get("input")
        # Our own validators already quote the value ("..., got 'ftp://x'"); say it once.
        shown = f", got {got!r}" if isinstance(got, str | int | float) and name and "got " not in msg else ""
        parts.append(f"{name}: {msg}{shown}" if name else msg)
    return "invalid configuration: " + "; ".join(parts)


def _env_name(field_or_alias: str) -> str:
    field = Settings.model_fields.get(field_or_alias)
    if field is None:
        return field_or_alias
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(field.alias or field_or_alias)
