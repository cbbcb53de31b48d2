"""Settings: defaults, parsing, and one operator-facing line naming the variable for every bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from xorb_orchestrator.config import Settings, SettingsError, load_settings

# Variables a developer's shell might carry; each test starts without them.
_VARIABLES = [
    name
    for field in Settings.model_fields.values()
    for name in ([field.alias] if field.alias else []) + list(getattr(field.validation_alias, "choices", []) or [])
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(str(name), raising=False)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.temporal_host == "localhost:7233"
    assert settings.log_level == "INFO"
    assert settings.max_parallel_workflows == 10
    assert settings.temporal_namespace == "default"
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.api_host == "127.0.0.1"  # never all interfaces unless asked
    assert settings.alert_max_bytes == 1_048_576
    assert settings.webhook_urls == []
    assert settings.load_api_key_entries() == []
    assert settings.approver_headers == "trust"  # service keys may name the approver (dev stack, auth proxy)


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_HOST", "temporal.internal:7233")
    monkeypatch.setenv("LOG_LEVEL", " debug ")
    monkeypatch.setenv("MAX_PARALLEL_WORKFLOWS", "3")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    settings = load_settings()
    assert settings.temporal_host == "temporal.internal:7233"
    assert settings.log_level == "DEBUG"
    assert settings.max_parallel_workflows == 3
    assert settings.log_format == "json"


def test_api_keys_from_variable_and_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# rotated monthly\nfile-key-1\n\n  file-key-2  \n", encoding="utf-8")
    monkeypatch.setenv("XORB_API_KEYS", " env-key-1 , ,env-key-2")
    monkeypatch.setenv("XORB_API_KEY_FILE", str(key_file))
    keys = [entry.secret for entry in load_settings().load_api_key_entries()]
    assert keys == ["env-key-1", "env-key-2", "file-key-1", "file-key-2"]
    assert "env-key-1" not in repr(load_settings())  # keys never show in a repr or a log line


def test_approver_headers_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XORB_APPROVER_HEADERS", " Refuse ")
    assert load_settings().approver_headers == "refuse"


def test_webhook_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XORB_NOTIFY_WEBHOOK_URL", "https://hooks.example/a")  # misspelt: not read (the CLI refuses)
    assert load_settings().webhook_urls == []
    monkeypatch.setenv("XORB_NOTIFY_WEBHOOK_URLS", "https://hooks.example/b, http://chat.example/c")
    assert load_settings().webhook_urls == ["https://hooks.example/b", "http://chat.example/c"]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("MAX_PARALLEL_WORKFLOWS", "abc", "expected a whole number, got 'abc'"),
        ("MAX_PARALLEL_WORKFLOWS", "0", "greater than or equal to 1"),
        ("LOG_LEVEL", "LOUD", "got 'LOUD'"),
        ("TEMPORAL_HOST", "localhost", "expected host:port"),
        ("TEMPORAL_HOST", "localhost:99999", "expected host:port"),
        ("TEMPORAL_CONNECT_TIMEOUT", "soon", "expected a number"),
        ("REDIS_URL", "localhost:6379", "redis://"),
        ("XORB_API_PORT", "http", "expected a whole number"),
        ("XORB_ALERT_MAX_BYTES", "10", "greater than or equal to 1024"),
        ("XORB_NOTIFY_WEBHOOK_URLS", "ftp://x", "http(s) URLs, got 'ftp://x'"),
        ("LOG_FORMAT", "xml", "got 'xml'"),
        ("XORB_APPROVER_HEADERS", "never", "expected 'trust' or 'refuse', got 'never'"),
    ],
)
def test_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("invalid configuration: ")
    assert f"{name}: " in message
    assert says in message
    assert message.count("got ") <= 1  # the bad value is quoted once, not twice


def test_tls_files_must_exist_and_come_in_pairs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    key.write_text("not really a key", encoding="utf-8")
    missing = tmp_path / "client.pem"
    monkeypatch.setenv("TEMPORAL_TLS_KEY", str(key))
    with pytest.raises(SettingsError, match="TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together"):
        load_settings()
    monkeypatch.setenv("TEMPORAL_TLS_CERT", str(missing))
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == f"invalid configuration: TEMPORAL_TLS_CERT: no readable file at {missing}"


def test_two_bad_values_are_both_named_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_PARALLEL_WORKFLOWS", "abc")
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    assert "MAX_PARALLEL_WORKFLOWS: " in message and "LOG_LEVEL: " in message


def test_correlation_clock_is_arrival_unless_told_event(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().correlation_clock == "arrival"
    monkeypatch.setenv("XORB_CORRELATION_CLOCK", " Event ")
    assert load_settings().correlation_clock == "event"


def test_misspelt_correlation_clock_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XORB_CORRELATION_CLOCK", "evnet")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    expected = "invalid configuration: XORB_CORRELATION_CLOCK: expected 'event' or 'arrival', got 'evnet'"
    assert str(caught.value) == expected


def test_the_workflow_sandbox_is_a_check_tests_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from temporalio.worker import UnsandboxedWorkflowRunner
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    from tests.support.stack import make_settings
    from xorb_orchestrator.service import workflow_runner

    assert load_settings().workflow_sandbox is False  # a worker runs the checked code without it
    assert isinstance(workflow_runner(False), UnsandboxedWorkflowRunner)
    assert isinstance(workflow_runner(), SandboxedWorkflowRunner)  # replay checks
    assert make_settings("localhost:7233", "redis://localhost:6379/0").workflow_sandbox is True  # the test services
    monkeypatch.setenv("XORB_WORKFLOW_SANDBOX", "maybe")
    with pytest.raises(SettingsError, match="XORB_WORKFLOW_SANDBOX"):
        load_settings()


def test_a_workflow_cache_too_small_to_work_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XORB_MAX_CACHED_WORKFLOWS", "0")  # no sticky cache: every task replays its history
    with pytest.raises(SettingsError, match="XORB_MAX_CACHED_WORKFLOWS"):
        load_settings()
    monkeypatch.setenv("XORB_MAX_CACHED_WORKFLOWS", "250")
    assert load_settings().max_cached_workflows == 250
