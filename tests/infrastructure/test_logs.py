"""Logs: no configured secret in any line (text or JSON, at DEBUG too), and JSON mode is JSON end to end."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError
from temporalio.runtime import LogForwardingConfig, TelemetryFilter

from tests.support.processes import clean_env, start_xorb, xorb_processes
from tests.support.stack import RedisServer
from xorb_orchestrator.config import load_settings
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.infrastructure.logs import setup_logging
from xorb_orchestrator.infrastructure.ports import free_port
from xorb_orchestrator.infrastructure.redaction import REDACTED, Redactor, settings_secrets
from xorb_orchestrator.infrastructure.temporal import _core_logging

TOKEN = "CANARY" + uuid.uuid4().hex
WEBHOOK = f"https://hooks.slack.com/services/T000/B000/{TOKEN}"
REDIS_PASSWORD = "redis-" + TOKEN
API_KEY = "key-" + TOKEN
TEMPORAL_KEY = "temporal-" + TOKEN
ANSI = re.compile(r"\x1b|\\u001b")


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., str]]:
    """setup_logging into a buffer; `logged(fmt, emit, secrets)` runs `emit` and returns the output (JSON lines
    checked and re-encoded without escapes). The logging state is restored afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("uvicorn.access", "httpx", "httpcore")}
    flags = workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message

    def run(fmt: str, emit: Callable[[], None], secrets: list[str] | None = None, level: str = "DEBUG") -> str:
        buffer = io.StringIO()
        monkeypatch.setattr(sys, "stderr", buffer)
        setup_logging(level, fmt, all_secrets() if secrets is None else secrets)
        emit()
        output = buffer.getvalue()
        if fmt == "json":  # every line is JSON; re-encode it unescaped ("…") to compare with text
            output = "".join(json.dumps(json.loads(line), ensure_ascii=False) + "\n" for line in output.splitlines())
        return output

    try:
        yield run
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)
        workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message = flags
        logging.captureWarnings(False)


def all_secrets() -> list[str]:
    settings = load_settings(
        XORB_NOTIFY_WEBHOOK_URLS=f"http://127.0.0.1:9000/hook,{WEBHOOK}",
        REDIS_URL=f"redis://default:{REDIS_PASSWORD}@cache.internal:6379/0",
        XORB_API_KEYS=f"other-service-key,{API_KEY}",
        TEMPORAL_API_KEY=TEMPORAL_KEY,
    )
    return settings_secrets(settings)


def no_secret(output: str) -> None:
    assert output.strip(), "nothing was logged"
    for secret in (TOKEN, REDIS_PASSWORD, API_KEY, TEMPORAL_KEY):
        assert secret not in output, f"{secret} leaked:\n{output}"


def json_lines(output: str) -> list[dict]:
    lines = [json.loads(line) for line in output.splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    return lines


FORMATS = pytest.mark.parametrize("fmt", ["text", "json"])


@FORMATS
def test_webhook_url_keeps_scheme_and_host_only(logged: Callable[..., str], fmt: str) -> None:
    def emit() -> None:
        # What httpx writes for every notification (INFO), and what httpcore adds at DEBUG.
        logging.getLogger("httpx").info('HTTP Request: %s %s "%s %d %s"', "POST", WEBHOOK, "HTTP/1.1", 200, "OK")
        logging.getLogger("httpcore.http11").debug("send_request_headers.started request=<Request [b'POST']>")
        logging.getLogger("xorb_orchestrator.test").debug("posting to path %s", f"/services/T000/B000/{TOKEN}")

    output = logged(fmt, emit)
    no_secret(output)
    first = output.splitlines()[0]
    assert f"https://hooks.slack.com/{REDACTED}" in (first if fmt == "text" else json.loads(first)["message"])
    assert "send_request_headers.started" in output  # DEBUG lines come out, redacted


@FORMATS
def test_redis_password_api_keys_and_temporal_key(logged: Callable[..., str], fmt: str) -> None:
    def emit() -> None:
        log = logging.getLogger("xorb_orchestrator.test")
        log.warning("cannot reach redis://default:%s@cache.internal:6379/0", REDIS_PASSWORD)
        log.info("keys %s and %s; temporal %s", API_KEY, "other-service-key", TEMPORAL_KEY)
        log.debug("password alone: %r", REDIS_PASSWORD)

    output = logged(fmt, emit)
    no_secret(output)
    assert "other-service-key" not in output
    assert f"redis://{REDACTED}@cache.internal:6379/0" in output


@FORMATS
def test_exception_message_and_traceback(logged: Callable[..., str], fmt: str) -> None:
    def emit() -> None:
        log = logging.getLogger("xorb_orchestrator.test")
        try:
            raise RuntimeError(f"POST {WEBHOOK} failed, key {API_KEY}")
        except RuntimeError:
            log.exception("notify failed")
        try:
            raise ApplicationError(f"webhook {WEBHOOK} answered 500", type="WebhookFailed")
        except ApplicationError:
            log.warning("activity failed", exc_info=True)  # one line: ExpectedFailureFilter, then redaction

    output = logged(fmt, emit)
    no_secret(output)
    assert "RuntimeError" in output and "Traceback" in output and "hooks.slack.com" in output
    assert "WebhookFailed" in output


def test_json_extras_are_redacted(logged: Callable[..., str]) -> None:
    def emit() -> None:
        logging.getLogger("xorb_orchestrator.test").info(
            "sent",
            extra={
                "url": WEBHOOK,
                "request": {"headers": [("Authorization", f"Bearer {API_KEY}")], "redis": REDIS_PASSWORD},
                "obj": RuntimeError(TEMPORAL_KEY),
            },
        )

    output = logged("json", emit)
    no_secret(output)
    (line,) = json_lines(output)
    assert line["url"] == f"https://hooks.slack.com/{REDACTED}"
    assert line["request"]["headers"] == [["Authorization", f"Bearer {REDACTED}"]]


@FORMATS
def test_generic_rules_without_known_secrets(logged: Callable[..., str], fmt: str) -> None:
    def emit() -> None:
        log = logging.getLogger("xorb_orchestrator.test")
        log.info("GET https://user:%s@api.example/v1?api_key=%s&page=2", TOKEN, API_KEY)
        log.info("headers {'Authorization': 'Bearer %s'}", TEMPORAL_KEY)
        log.info("callback https://%s@git.example/repo.git, token=%s", REDIS_PASSWORD, TOKEN)

    output = logged(fmt, emit, secrets=[])
    no_secret(output)
    assert "api.example/v1?api_key=" in output and "page=2" in output and "git.example" in output


def test_bad_log_arguments_are_redacted_not_raw(logged: Callable[..., str]) -> None:
    output = logged("json", lambda: logging.getLogger("x").info("%d hooks", WEBHOOK))
    no_secret(output)
    json_lines(output)


def test_json_mode_has_no_ansi_and_drops_color_message(logged: Callable[..., str]) -> None:
    def emit() -> None:
        # What uvicorn logs: the plain message, and a coloured copy in `color_message`.
        logging.getLogger("uvicorn.error").info(
            "Uvicorn running on %s", "http://127.0.0.1:8000", extra={"color_message": "\x1b[1m%s\x1b[0m"}
        )
        logging.getLogger("temporalio.core").warning(
            "\x1b[33mWARN\x1b[0m poll failed", extra={"detail": {"why": "\x1b[31mred\x1b[0m"}}
        )

    output = logged("json", emit)
    assert not ANSI.search(output), output
    first, second = json_lines(output)
    assert "color_message" not in first and first["message"] == "Uvicorn running on http://127.0.0.1:8000"
    assert second["message"] == "WARN poll failed" and second["detail"] == {"why": "red"}


def test_redactor_is_exact() -> None:
    redactor = Redactor(["http://127.0.0.1:9000/hook", "abc"])  # "abc": too short to be a credential
    # The path "/hook" is hidden where it is a path, not inside a host name; short strings stay.
    assert redactor.redact("POST http://127.0.0.1:9000/hook") == f"POST http://127.0.0.1:9000/{REDACTED}"
    assert redactor.redact("https://hooks.example/x abc") == "https://hooks.example/x abc"
    assert redactor.redact("token=x token=x") == f"token={REDACTED} token={REDACTED}"
    assert redactor.redact(f"token={REDACTED}") == f"token={REDACTED}"  # idempotent
    assert redactor.redact("incident_id=incident-1 attempt=2 user@example.com") == (
        "incident_id=incident-1 attempt=2 user@example.com"
    )


def test_settings_secrets(tmp_path: Path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text(f"person-key-{TOKEN} alice approver\n")
    settings = load_settings(
        XORB_NOTIFY_WEBHOOK_URLS=WEBHOOK,
        REDIS_URL=f"rediss://:{REDIS_PASSWORD}@cache:6380/1",
        XORB_API_KEYS=API_KEY,
        XORB_API_KEY_FILE=str(key_file),
        XORB_API_KEY="client-key",
        TEMPORAL_API_KEY=TEMPORAL_KEY,
    )
    assert set(settings_secrets(settings)) >= {
        WEBHOOK, REDIS_PASSWORD, API_KEY, f"person-key-{TOKEN}", "client-key", TEMPORAL_KEY
    }  # fmt: skip
    # A key file that does not parse: the service will refuse to start; meanwhile XORB_API_KEYS stays hidden.
    key_file.write_text("k alice approver extra-field\n")
    assert API_KEY in settings_secrets(settings)


def test_core_logs_are_forwarded_at_log_level() -> None:
    debug, info = _core_logging(logging.DEBUG), _core_logging(logging.INFO)
    assert isinstance(debug.forwarding, LogForwardingConfig)
    assert debug.forwarding.logger.name == "temporalio.core"
    assert isinstance(debug.filter, TelemetryFilter) and debug.filter.core_level == "DEBUG"
    assert isinstance(info.filter, TelemetryFilter) and info.filter.core_level == "WARN"
    assert _core_logging(logging.ERROR).filter == TelemetryFilter(core_level="ERROR", other_level="ERROR")


# --- end to end: the real `xorb serve` at DEBUG in JSON, posting a notification to a canary URL ---

ALERT: dict[str, object] = {
    "title": "Credential dumping on a domain controller",
    "severity": "high",
    "source": "edr-1",
    "rule": "lsass-access",
    "observables": {"hostname": "dc01.corp.example", "user": "svc-backup"},
    "techniques": ["T1003.001"],
}
# A playbook whose tool call carries a credential in a header (until connectors resolve credentials by
# reference, this is how a token reaches a tool): the credential must not show in any log line either.
PLAYBOOK = """
id: canary-credential
name: Tell the ticketing tool
version: "1"
tags: [T1003]
steps:
  - id: go
    approval: {{approvers: {{roles: [soc-lead]}}, timeout: 1s, on_timeout: approve}}
  - id: open-ticket
    action: http.request
    args:
      method: POST
      url: "{url}"
      headers: {{Authorization: "Bearer {credential}"}}
      json: {{title: "${{{{ incident.title }}}}"}}
  - id: tell-soc
    action: notify.webhook
    args: {{text: "ticket opened for ${{{{ incident.id }}}}"}}
"""


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.timeout(90)
async def test_serve_json_debug_logs_hold_no_secret(
    temporal_address: str, redis_server: RedisServer, webhook_sink: WebhookSink, tmp_path: Path
) -> None:
    token = "CANARY" + uuid.uuid4().hex
    hook = webhook_sink.url.removesuffix("/hook") + f"/services/T000/B000/{token}"
    api_key = "key-CANARY" + uuid.uuid4().hex
    credential = "cred-CANARY" + uuid.uuid4().hex
    playbooks = tmp_path / "playbooks"
    playbooks.mkdir()
    (playbooks / "canary.yaml").write_text(PLAYBOOK.format(url=webhook_sink.url, credential=credential))
    policy = tmp_path / "policy.yaml"  # run the matched playbook once its approval (silence approves) is through
    policy.write_text("version: 1\nname: run-matched\nrules: [{name: run, playbook: candidate, autonomy: approve}]\n")
    port = free_port()
    env = clean_env(
        TEMPORAL_HOST=temporal_address,
        REDIS_URL=redis_server.url,
        TEMPORAL_TASK_QUEUE="test-" + uuid.uuid4().hex[:12],
        XORB_API_PORT=port,
        XORB_API_KEYS=api_key,
        XORB_NOTIFY_WEBHOOK_URLS=hook,
        XORB_PLAYBOOKS_DIR=playbooks,
        XORB_POLICY_FILE=policy,
        XORB_HTTP_ALLOWED_HOSTS="127.0.0.1",
        XORB_INCIDENT_LINGER_SECONDS=0,
        LOG_LEVEL="DEBUG",
        LOG_FORMAT="json",
    )
    with xorb_processes() as started:
        proc = start_xorb(["serve"], env, tmp_path / "serve.log")
        started.append(proc)
        headers = {"Authorization": f"Bearer {api_key}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                assert proc.proc.poll() is None, f"xorb serve exited:\n{proc.output()[-3000:]}"
                assert time.monotonic() < deadline, f"the API did not come up:\n{proc.output()[-3000:]}"
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            response = await http.post("/v1/alerts", json=ALERT)
            assert response.status_code == 202, response.text
            incident_id = response.json()["incident_id"]
            while not any(credential in str(item["headers"]) for item in webhook_sink.received):
                assert time.monotonic() < deadline + 30, f"no notification:\n{proc.output()[-3000:]}"
                await asyncio.sleep(0.1)
            while (await http.get(f"/v1/incidents/{incident_id}")).json().get("status") not in ("completed", "closed"):
                assert time.monotonic() < deadline + 30, f"incident not completed:\n{proc.output()[-3000:]}"
                await asyncio.sleep(0.2)
        proc.stop()

    output = proc.output()
    assert token not in output and api_key not in output and credential not in output
    assert not ANSI.search(output)
    lines = []
    for raw in output.splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            pytest.fail(f"not a JSON line: {raw!r}")
    assert all(isinstance(line, dict) for line in lines)
    # The lines the redaction is for were written (redacted), and the core's logs came through Python logging.
    posted = [
        line["message"] for line in lines if line["logger"] == "httpx" and "HTTP Request: POST" in line["message"]
    ]
    assert any(f"{hook.split('/services/')[0]}/{REDACTED}" in message for message in posted), posted
    assert any(line["logger"].startswith("temporalio.core") for line in lines)
    assert any(line.get("incident_id") == incident_id for line in lines)
