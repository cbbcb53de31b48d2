"""The action registry and its built-in actions: specs and schemas, `xorb actions list`, each action run as a real
activity (ActivityEnvironment) against a local HTTP server, and one incident on the real stack whose plan runs
data.set, http.request (allowed, retried on 503, refused on 404) through the worker's registry."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.activity import _Definition
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker
from typer.testing import CliRunner

from tests.support.stack import make_settings, service
from xorb_orchestrator.activities.actions.catalog import action_activities, builtin_actions
from xorb_orchestrator.activities.actions.data_helpers import merge
from xorb_orchestrator.activities.actions.support import ActionDeps
from xorb_orchestrator.activities.redelivery import RedeliveryActivities
from xorb_orchestrator.activities.slots import SlotActivities
from xorb_orchestrator.cli.main import app
from xorb_orchestrator.config import Settings, SettingsError, load_settings
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.infrastructure.cache import IncidentCache
from xorb_orchestrator.models.enrichment import Enrichment
from xorb_orchestrator.models.incident import IncidentStatus, IncidentView
from xorb_orchestrator.models.plan import Plan, PlannedStep
from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult, AssessInput, Assessment
from xorb_orchestrator.playbook import BUILTIN_ACTIONS
from xorb_orchestrator.playbook.actions import ActionArgs, ActionArgsInvalid, ActionCatalog, ActionSpec
from xorb_orchestrator.service import WORKFLOWS, Roles, action_catalog, incident_activities, workflow_runner

BUILTINS = {
    "data.merge": False,
    "data.set": False,
    "http.request": True,
    "notify.approval": True,
    "notify.webhook": True,
}
# Connector actions -> mutating (every connector type in connectors/CONNECTOR_TYPES).
CONNECTOR_ACTIONS = {
    "crowdstrike.contain": True,
    "crowdstrike.lift_containment": True,
    "defender.isolate": True,
    "defender.unisolate": True,
    "entra.disable_user": True,
    "entra.enable_user": True,
    "entra.revoke_sessions": True,
    "http.call": True,
    "jira.create_issue": True,
    "nftables.block": True,
    "nftables.list": False,
    "nftables.unblock": True,
    "okta.clear_sessions": True,
    "okta.suspend_user": True,
    "okta.unsuspend_user": True,
    "openc2.allow": True,
    "openc2.delete": True,
    "openc2.deny": True,
    "openc2.query_features": False,
    "openc2.update_file": True,
    "teams.post_card": True,
    "thehive.create_alert": True,
    "thehive.create_case": True,
    "thehive.delete_alert": True,
    "wazuh.block_ip": True,
    "wazuh.unblock_ip": True,
}
EVERY_ACTION = {**BUILTINS, **CONNECTOR_ACTIONS}
CATALOG = action_catalog()
action_spec = CATALOG.get


# --- a local tool API that records every call ------------------------------------------------------------------


class ToolServer:
    """Routes: /ok (200 JSON), /created (201), /missing (404), /flaky (503 twice, then 201), /big (200, 200 KB),
    /text (200 text/plain), /slow (answers after 2 s), /moved (302). Records method, path, headers, body."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.flaky_failures = 2
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                json_sent = "json" in self.headers.get("content-type", "")
                body = (json.loads(raw) if json_sent else raw.decode()) if raw else None
                server.calls.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
                )
                status, content_type, payload = server.answer(self.path)
                if self.path == "/slow":
                    threading.Event().wait(2)
                try:
                    self.send_response(status)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(payload)))
                    self.send_header("x-request-id", "req-1")
                    self.send_header("x-secret-internal", "not kept")
                    if status == 302:
                        self.send_header("location", "http://elsewhere.example/")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def answer(self, path: str) -> tuple[int, str, bytes]:
        ok = json.dumps({"score": 91, "verdict": "malicious"}).encode()
        path = path.split("?")[0]
        if path == "/flaky":
            if self.flaky_failures > 0:
                self.flaky_failures -= 1
                return 503, "application/json", b'{"error": "busy"}'
            return 201, "application/json", b'{"rule_id": "r-7"}'
        routes = {
            "/ok": (200, "application/json", ok),
            "/created": (201, "application/json; charset=utf-8", b'{"rule_id": "r-1"}'),
            "/missing": (404, "application/json", b'{"error": "no such rule"}'),
            "/big": (200, "application/json", json.dumps({"pad": "x" * 200_000}).encode()),
            "/text": (200, "text/plain", b"pong"),
            "/slow": (200, "application/json", ok),
            "/moved": (302, "text/plain", b""),
        }
        return routes.get(path, (200, "application/json", ok))

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def tool() -> Iterator[ToolServer]:
    server = ToolServer()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
        yield client


def settings_for(**env: object) -> Settings:
    """Settings with nothing allowed or configured unless given (whatever the developer's shell holds)."""
    values: dict[str, object] = {"XORB_HTTP_ALLOWED_HOSTS": "", "XORB_NOTIFY_WEBHOOK_URLS": ""}
    return load_settings(TEMPORAL_TASK_QUEUE="test-actions", **(values | env))


def incident() -> IncidentView:
    now = datetime.now(UTC)
    return IncidentView(
        incident_id="incident-test",
        correlation_key="k",
        status=IncidentStatus.RUNNING,
        severity="high",
        severity_id=4,
        title="Outbound C2 beacon",
        source="ids-1",
        first_seen=now,
        last_seen=now,
        created_at=now,
        updated_at=now,
    )


async def run_action(
    deps: ActionDeps,
    action: str,
    args: dict[str, Any],
    *,
    dry_run: bool = False,
    dry_run_call: bool = False,
    step_id: str = "s1",
) -> ActionResult:
    """Run the registered activity of `action` as Temporal would (one attempt), with real code and real I/O."""
    [fn] = [a for a in action_activities(builtin_actions(), deps) if _Definition.must_from_callable(a).name == action]
    request = ActionInput(
        incident_id="incident-test",
        step=PlannedStep(id=step_id, action=action, args=args),
        incident=incident(),
        dry_run=dry_run,
        dry_run_call=dry_run_call,
    )
    return await ActivityEnvironment().run(fn, request)


async def action_fails(deps: ActionDeps, action: str, args: dict[str, Any]) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await run_action(deps, action, args)
    return caught.value


# --- the catalog -------------------------------------------------------------------------------------------------


def test_catalog_holds_the_builtin_and_connector_actions_with_their_flags() -> None:
    assert CATALOG.flags() == EVERY_ACTION
    assert [spec.name for spec in CATALOG.specs()] == sorted(EVERY_ACTION)
    # Playbook validation's default (pure, importable anywhere) is the same specs the worker runs.
    assert BUILTIN_ACTIONS.flags() == BUILTINS
    assert [a.spec for a in builtin_actions()] == [BUILTIN_ACTIONS.get(a.spec.name) for a in builtin_actions()]
    undos = {spec.name: spec.undo for spec in CATALOG.specs() if spec.undo}
    assert undos == {
        "crowdstrike.contain": "crowdstrike.lift_containment",
        "defender.isolate": "defender.unisolate",
        "entra.disable_user": "entra.enable_user",
        "nftables.block": "nftables.unblock",
        "okta.suspend_user": "okta.unsuspend_user",
        "openc2.allow": "openc2.delete",
        "openc2.deny": "openc2.delete",
        "thehive.create_alert": "thehive.delete_alert",
        "wazuh.block_ip": "wazuh.unblock_ip",
    }
    one_way = sorted(spec.name for spec in CATALOG.specs() if spec.one_way)
    assert one_way == [
        "entra.revoke_sessions", "jira.create_issue", "okta.clear_sessions", "teams.post_card", "thehive.create_case"
    ]  # fmt: skip
    assert all((spec.connector is None) == (spec.name in BUILTINS) for spec in CATALOG.specs())
    assert CATALOG.mutating() == sorted(name for name, mutating in EVERY_ACTION.items() if mutating)
    assert "http.request" not in CATALOG.always_mutating() and "nftables.block" in CATALOG.always_mutating()


async def test_every_spec_has_an_activity_registered_under_its_name(http: httpx.AsyncClient) -> None:
    activities = action_activities(builtin_actions(), ActionDeps(settings_for(), http))
    names = [_Definition.must_from_callable(fn).name for fn in activities]
    assert sorted(names) == sorted(BUILTINS)


def test_argument_schemas() -> None:
    http_schema = action_spec("http.request").args_schema()  # type: ignore[union-attr]
    assert http_schema["required"] == ["url"]
    assert http_schema["additionalProperties"] is False
    assert http_schema["properties"]["method"]["enum"] == ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    assert {"url", "headers", "json", "expected_status", "timeout"} <= set(http_schema["properties"])
    assert action_spec("data.set").args_schema()["additionalProperties"] is True  # type: ignore[union-attr]
    assert action_spec("data.merge").args_schema()["required"] == ["objects"]  # type: ignore[union-attr]
    notify = action_spec("notify.webhook").args_schema()  # type: ignore[union-attr]
    assert set(notify["properties"]) == {"webhook", "host", "text"}


def test_mutating_follows_the_arguments_where_the_spec_says_so() -> None:
    spec = action_spec("http.request")
    assert spec is not None and spec.mutating and spec.mutating_unless == "method is GET or HEAD"
    assert spec.is_mutating({"url": "https://a.example/x"}) is False  # GET by default
    assert spec.is_mutating({"url": "https://a.example/x", "method": "head"}) is False
    assert spec.is_mutating({"url": "https://a.example/x", "method": "POST"}) is True
    assert spec.is_mutating({"method": "GET"}) is True  # invalid arguments: the safe side
    assert action_spec("data.set").is_mutating({"anything": 1}) is False  # type: ignore[union-attr]
    assert action_spec("notify.webhook").is_mutating({}) is True  # type: ignore[union-attr]


def test_bad_arguments_name_the_field() -> None:
    spec = action_spec("http.request")
    assert spec is not None
    cases = {
        "http.request: field 'url': required argument is missing": {},
        "http.request: field 'urll': unknown argument": {"url": "http://a.example/", "urll": "x"},
        "http.request: field 'url': expected an http(s) URL with a host, got 'ftp://a.example/'": {
            "url": "ftp://a.example/"
        },
        "http.request: field 'headers': header 'Host' is set by http.request": {
            "url": "http://a.example/",
            "headers": {"Host": "b.example"},
        },
    }
    for message, raw in cases.items():
        with pytest.raises(ActionArgsInvalid) as caught:
            spec.parse_args(raw)
        assert str(caught.value) == message
    with pytest.raises(ActionArgsInvalid, match=r"field 'method': expected 'GET', 'HEAD'"):
        spec.parse_args({"url": "http://a.example/", "method": "FETCH"})


def test_catalog_refuses_duplicates_and_dangling_undos() -> None:
    class Args(ActionArgs):
        ip: str

    block = ActionSpec("firewall.block", "Block an IP.", Args, mutating=True, undo="firewall.unblock")
    lookup = ActionSpec("lookup.ip", "Look an IP up.", Args, mutating=False, undo="lookup.forget")
    assert ActionCatalog([block, lookup]).problems() == [
        "action firewall.block: its undo 'firewall.unblock' is not in the catalog",
        "action lookup.ip: its undo 'lookup.forget' is not in the catalog",
        "action lookup.ip: only a mutating action has anything to undo",
    ]
    unblock = ActionSpec("firewall.unblock", "Unblock an IP.", Args, mutating=True)
    assert ActionCatalog([block, lookup, unblock]).problems()[0].startswith("action lookup.ip")
    with pytest.raises(ValueError, match="in the catalog twice"):
        ActionCatalog([block, ActionSpec("firewall.block", "again", Args, mutating=True)])
    with pytest.raises(ValueError, match=r"must look like area\.verb"):
        ActionSpec("Block", "bad name", Args, mutating=True)


def test_http_allowlist_setting() -> None:
    settings = settings_for(XORB_HTTP_ALLOWED_HOSTS="API.example, 10.0.0.7:8443 ,[::1]:9000")
    assert settings.http_allowed == [("api.example", None), ("10.0.0.7", 8443), ("::1", 9000)]
    assert settings_for().http_allowed == []
    with pytest.raises(SettingsError) as caught:
        settings_for(XORB_HTTP_ALLOWED_HOSTS="https://api.example/v1")
    assert str(caught.value) == (
        "invalid configuration: XORB_HTTP_ALLOWED_HOSTS: expected comma-separated host names or host:port, "
        "got 'https://api.example/v1'"
    )


# --- xorb actions list -------------------------------------------------------------------------------------------


def test_actions_list_prints_flags_undo_description_and_schema() -> None:
    result = CliRunner().invoke(app, ["actions", "list"])
    assert result.exit_code == 0, result.output
    blocks = result.output.strip().split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == sorted(EVERY_ACTION)
    by_name = {block.splitlines()[0]: block for block in blocks}
    http_block = by_name["http.request"]
    assert http_block.splitlines()[1] == "  mutating (not when method is GET or HEAD); undo: none"
    assert "Call an HTTP API on an allowlisted host" in http_block
    assert '"required": [' in http_block and '"url"' in http_block
    assert by_name["data.set"].splitlines()[1] == "  not mutating; undo: none"
    assert by_name["okta.clear_sessions"].splitlines()[1] == (
        "  mutating; undo: none (one-way); connector okta (a connection in XORB_CONNECTORS_FILE)"
    )


def test_actions_list_json() -> None:
    result = CliRunner().invoke(app, ["actions", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert {item["name"]: item["mutating"] for item in listed} == EVERY_ACTION
    http_item = next(item for item in listed if item["name"] == "http.request")
    assert http_item["undo"] is None and http_item["mutating_unless"] == "method is GET or HEAD"
    assert http_item["args_schema"]["required"] == ["url"]
    assert set(http_item) == {
        "name", "description", "mutating", "mutating_unless", "undo", "one_way", "connector", "effect", "target",
        "target_kind", "args_schema",
    }  # fmt: skip


# --- http.request as a real activity -----------------------------------------------------------------------------


async def test_http_request_to_an_allowed_host(tool: ToolServer, http: httpx.AsyncClient) -> None:
    deps = ActionDeps(settings_for(XORB_HTTP_ALLOWED_HOSTS="127.0.0.1"), http)
    result = await run_action(deps, "http.request", {"url": tool.url("/ok?ip=203.0.113.10")})
    assert result.outcome == "completed"
    assert result.details["status"] == 200
    assert result.details["body"] == {"score": 91, "verdict": "malicious"}
    assert result.details["body_truncated"] is False
    assert result.details["headers"]["x-request-id"] == "req-1"
    assert "x-secret-internal" not in result.details["headers"]
    [call] = tool.calls
    assert call["method"] == "GET" and call["path"] == "/ok?ip=203.0.113.10"
    assert call["headers"]["Idempotency-Key"] == "incident-test/s1"


async def test_http_request_post_with_json_and_expected_status(tool: ToolServer, http: httpx.AsyncClient) -> None:
    deps = ActionDeps(settings_for(XORB_HTTP_ALLOWED_HOSTS=f"127.0.0.1:{tool.port}"), http)
    args = {
        "method": "post",
        "url": tool.url("/created"),
        "headers": {"Authorization": "Bearer t", "Idempotency-Key": "mine"},
        "json": {"ip": "203.0.113.10", "duration": "1h"},
        "expected_status": [201],
    }
    result = await run_action(deps, "http.request", args)
    assert result.details["status"] == 201 and result.details["body"] == {"rule_id": "r-1"}
    [call] = tool.calls
    assert call["method"] == "POST" and call["body"] == {"ip": "203.0.113.10", "duration": "1h"}
    assert call["headers"]["Authorization"] == "Bearer t" and call["headers"]["Idempotency-Key"] == "mine"

    # A success code that is not the expected one is not success, and retrying will not change it.
    error = await action_fails(deps, "http.request", {**args, "url": tool.url("/ok")})
    assert error.type == "ActionRejected" and error.non_retryable
    assert "answered 200 (expected 201)" in error.message


async def test_http_request_sends_a_text_body_as_written(tool: ToolServer, http: httpx.AsyncClient) -> None:
    """Form data, XML, plain text (CACAO http-api content that is not JSON): the bytes and type as given."""
    deps = ActionDeps(settings_for(XORB_HTTP_ALLOWED_HOSTS=f"127.0.0.1:{tool.port}"), http)
    form = {"method": "POST", "url": tool.url("/ok"), "body_text": "ip=203.0.113.10&action=block"}
    form["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
    await run_action(deps, "http.request", form)
    await run_action(deps, "http.request", {"method": "POST", "url": tool.url("/ok"), "body_text": "block ü"})
    first, second = tool.calls
    assert first["body"] == "ip=203.0.113.10&action=block"
    assert first["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert second["body"] == "block ü" and second["headers"]["Content-Type"] == "text/plain; charset=utf-8"


async def test_http_request_refuses_hosts_not_allowed(tool: ToolServer, http: httpx.AsyncClient) -> None:
    nothing = ActionDeps(settings_for(), http)
    error = await action_fails(nothing, "http.request", {"url": tool.url("/ok")})
    assert error.type == "InvalidInput" and error.non_retryable
    assert error.message == (
        f"http.request: host '127.0.0.1:{tool.port}' is not allowed: XORB_HTTP_ALLOWED_HOSTS is empty, so no host is"
    )
    other = ActionDeps(settings_for(XORB_HTTP_ALLOWED_HOSTS="api.example, 127.0.0.1:1"), http)
    error = await action_fails(other, "http.request", {"url": tool.url("/ok")})
    assert error.type == "InvalidInput" and error.non_retryable
    assert error.message == (
        f"http.request: host '127.0.0.1:{tool.port}' is not in XORB_HTTP_ALLOWED_HOSTS (api.example, 127.0.0.1:1)"
    )
    error = await action_fails(other, "http.request", {"url": "https://evil.example/x"})
    assert "host 'evil.example' is not in XORB_HTTP_ALLOWED_HOSTS" in error.message
    # A dry run checks the allowlist too, and says what a real run would trip on, without stopping there.
    for method in ("POST", "GET"):
        result = await run_action(other, "http.request", {"url": tool.url("/ok"), "method": method}, dry_run=True)
        assert result.outcome == "simulated"
        assert result.details["warning"] == (
            f"not called: http.request: host '127.0.0.1:{tool.port}' is not in XORB_HTTP_ALLOWED_HOSTS "
            "(api.example, 127.0.0.1:1); a real run would fail here"
        )
    assert tool.calls == []


async def test_a_dry_run_lookup_that_fails_is_a_warning(tool: ToolServer, http: httpx.AsyncClient) -> None:
    deps = ActionDeps(settings_for(XORB_HTTP_ALLOWED_HOSTS="127.0.0.1"), http)
    result = await run_action(deps, "http.request", {"url": tool.url("/missing")}, dry_run=True, dry_run_call=True)
    assert result.outcome == "simulated" and result.details["warning"].startswith("the lookup failed: GET ")
    assert result.details["warning"].endswith("a real run would fail here")
    assert [c["path"] for c in tool.calls] == ["/missing"]  # a lookup its step vouched for really runs


async def test_http_request_4xx_is_not_retried_5xx_and_timeouts_are(tool: ToolServer, http: httpx.AsyncClient) -> None:
    deps = ActionDeps(settings_for(XORB_HTTP_ALLOWED_HOSTS="127.0.0.1"), http)
    rejected = await action_fails(deps, "http.request", {"method": "DELETE", "url": tool.url("/missing")})
    assert rejected.type == "ActionRejected" and rejected.non_retryable
    assert rejected.message == (
        f'DELETE http://127.0.0.1:{tool.port}/missing answered 404 (expected 2xx): {{"error": "no such rule"}}'
    )
    unavailable = await action_fails(deps, "http.request", {"method": "POST", "url": tool.url("/flaky?token=s3")})
    assert unavailable.type == "ActionUnavailable" and not unavailable.non_retryable
    assert "answered 503" in unavailable.message and "s3" not in unavailable.message  # query (tokens) redacted
    slow = await action_fails(deps, "http.request", {"url": tool.url("/slow"), "timeout": 0.5})
    assert slow.type == "ActionUnavailable" and not slow.non_retryable
    assert slow.message == f"GET http://127.0.0.1:{tool.port}/slow timed out after 0.5s"
    moved = await action_fails(deps, "http.request", {"url": tool.url("/moved")})
    assert moved.type == "ActionRejected" and "answered 302" in moved.message  # redirects are not followed
    closed = await action_fails(deps, "http.request", {"url": "http://127.0.0.1:1/"})
    assert closed.type == "ActionUnavailable" and not closed.non_retryable


async def test_http_request_bodies_are_bounded(tool: ToolServer, http: httpx.AsyncClient) -> None:
    deps = ActionDeps(settings_for(XORB_HTTP_ALLOWED_HOSTS="127.0.0.1"), http)
    big = await run_action(deps, "http.request", {"url": tool.url("/big")})
    assert big.details["status"] == 200 and big.details["body"] is None and big.details["body_truncated"] is True
    text = await run_action(deps, "http.request", {"url": tool.url("/text")})
    assert text.details["body"] == "pong"
    head = await run_action(deps, "http.request", {"method": "HEAD", "url": tool.url("/ok")})
    assert head.details["status"] == 200 and head.details["body"] is None


async def test_http_request_invalid_args_are_invalid_input(http: httpx.AsyncClient) -> None:
    deps = ActionDeps(settings_for(XORB_HTTP_ALLOWED_HOSTS="127.0.0.1"), http)
    error = await action_fails(deps, "http.request", {"url": "http://127.0.0.1/", "timeout": 500})
    assert error.type == "InvalidInput" and error.non_retryable
    assert error.message == "http.request: field 'timeout': expected less than or equal to 50, got 500"


async def test_dry_run_calls_only_lookups_its_step_vouched_for(tool: ToolServer, http: httpx.AsyncClient) -> None:
    deps = ActionDeps(settings_for(XORB_HTTP_ALLOWED_HOSTS="127.0.0.1"), http)
    post = {"method": "POST", "url": tool.url("/created"), "json": {"ip": "203.0.113.10"}}
    result = await run_action(deps, "http.request", post, dry_run=True)
    assert result.outcome == "simulated"
    assert result.details == {"args": {**post, "headers": {}, "expected_status": [], "timeout": 30.0}}
    assert tool.calls == []  # zero mutating calls
    unmarked = await run_action(deps, "http.request", {"url": tool.url("/ok")}, dry_run=True)
    assert unmarked.outcome == "simulated" and "dry_run: call" in (unmarked.reason or "")
    assert tool.calls == []  # a dry run reads nothing its author did not mark as safe to read
    looked_up = await run_action(deps, "http.request", {"url": tool.url("/ok")}, dry_run=True, dry_run_call=True)
    assert looked_up.outcome == "completed" and looked_up.details["body"]["score"] == 91
    assert [call["method"] for call in tool.calls] == ["GET"]
    # Vouched for, but it would change something: still simulated.
    marked_post = await run_action(deps, "http.request", post, dry_run=True, dry_run_call=True)
    assert marked_post.outcome == "simulated" and [call["method"] for call in tool.calls] == ["GET"]


# --- data helpers and notify.webhook -----------------------------------------------------------------------------


async def test_data_helpers(http: httpx.AsyncClient) -> None:
    deps = ActionDeps(settings_for(), http)
    result = await run_action(deps, "data.set", {"note": "score too low", "score": 12})
    assert result.outcome == "completed" and result.details == {"note": "score too low", "score": 12}
    objects = [{"a": 1, "nested": {"x": 1, "y": 1}}, {"b": 2, "nested": {"y": 2}}]
    shallow = await run_action(deps, "data.merge", {"objects": objects})
    assert shallow.details == {"a": 1, "b": 2, "nested": {"y": 2}}
    deep = await run_action(deps, "data.merge", {"objects": objects, "deep": True}, dry_run=True)
    assert deep.outcome == "completed" and deep.details == {"a": 1, "b": 2, "nested": {"x": 1, "y": 2}}
    error = await action_fails(deps, "data.merge", {"objects": []})
    assert error.type == "InvalidInput" and error.non_retryable
    assert error.message.startswith("data.merge: field 'objects': List should have at least 1 item")
    error = await action_fails(deps, "data.set", {"big": "x" * 300_000})
    assert error.type == "InvalidInput" and "at most 262144" in error.message
    assert merge({"a": [1]}, {"a": [2]}, deep=True) == {"a": [2]}


async def test_notify_webhook_from_the_registry(webhook_sink: WebhookSink, http: httpx.AsyncClient) -> None:
    deps = ActionDeps(settings_for(XORB_NOTIFY_WEBHOOK_URLS=webhook_sink.url), http)
    result = await run_action(deps, "notify.webhook", {"text": "PAGE: Outbound C2 beacon"}, step_id="page")
    assert result.outcome == "completed" and result.details["status"] == 200
    [received] = webhook_sink.received
    assert received["body"]["text"] == "PAGE: Outbound C2 beacon" and "blocks" not in received["body"]
    assert received["headers"]["Idempotency-Key"] == "incident-test/page"
    planned = await run_action(deps, "notify.webhook", {"webhook": 0, "host": "127.0.0.1"})
    assert planned.details["host"] == "127.0.0.1"
    assert webhook_sink.received[1]["body"]["text"].startswith("[HIGH] Outbound C2 beacon")
    simulated = await run_action(deps, "notify.webhook", {"text": "hi"}, dry_run=True)
    assert simulated.outcome == "simulated" and len(webhook_sink.received) == 2
    error = await action_fails(deps, "notify.webhook", {"webhook": 3})
    assert error.type == "InvalidInput" and error.message == "webhook #3 is no longer configured (1 configured)"
    error = await action_fails(deps, "notify.webhook", {"txt": "typo"})
    assert error.message == "notify.webhook: field 'txt': unknown argument"
    skipped = await run_action(ActionDeps(settings_for(), http), "notify.webhook", {"webhook": None})
    assert skipped.outcome == "skipped" and "XORB_NOTIFY_WEBHOOK_URLS" in (skipped.reason or "")


# --- end to end: an incident whose plan runs registry actions on the real stack ---------------------------------


async def test_incident_runs_registry_actions_on_real_temporal(
    temporal_client: Client, temporal_address: str, redis_server: Any, tool: ToolServer
) -> None:
    """The API takes an alert; a worker whose actions all come from the registry runs a plan of data.set and
    http.request steps: the 503s are retried by Temporal, the 404 fails the step without a retry."""

    @activity.defn(name="incident.assess")
    async def plan(request: AssessInput) -> Assessment:
        steps = [
            PlannedStep(id="note", action="data.set", args={"ip": "203.0.113.10"}),
            PlannedStep(id="lookup", action="http.request", args={"url": tool.url("/ok")}),
            PlannedStep(id="block", action="http.request", args={"method": "POST", "url": tool.url("/flaky")}),
            PlannedStep(id="verify", action="http.request", args={"url": tool.url("/missing")}),
            PlannedStep(id="merge", action="data.merge", args={"objects": [{"a": 1}]}),
        ]
        plan = Plan(playbook="test-actions", rationale="exercise the registry", steps=steps)
        return Assessment(enrichment=Enrichment(), plan=plan)

    settings = make_settings(temporal_address, redis_server.url, XORB_HTTP_ALLOWED_HOSTS=f"127.0.0.1:{tool.port}")
    cache = IncidentCache(settings.redis_url)
    bookkeeping = incident_activities(settings, cache, CATALOG)
    slots = SlotActivities(temporal_client, settings)
    async with httpx.AsyncClient(timeout=10) as http:
        worker = Worker(
            temporal_client,
            task_queue=settings.temporal_task_queue,
            workflows=WORKFLOWS,
            workflow_runner=workflow_runner(),
            activities=[
                plan,
                bookkeeping.publish_incident,
                RedeliveryActivities().recall_deliveries,
                slots.claim_slot,
                slots.request_slot,
                slots.find_closed,
                *action_activities(builtin_actions(), ActionDeps(settings, http)),
            ],
        )
        async with worker, service(settings, Roles(worker=False, api=True)) as svc:
            alert = {
                "id": "evt-" + uuid.uuid4().hex,
                "title": "Outbound C2 beacon",
                "severity": "high",
                "source": "ids-1",
                "rule": "c2-beacon",
                "observables": {"dest_ip": "203.0.113.10"},
            }
            incident_id = await svc.send_alert(alert)
            view = await svc.wait_for_incident(incident_id, status="failed", timeout=60)
    await cache.close()

    steps = {step["id"]: step for step in view["steps"]}
    assert steps["note"]["status"] == "completed" and steps["note"]["result"] == {"ip": "203.0.113.10"}
    assert steps["lookup"]["status"] == "completed" and steps["lookup"]["result"]["body"]["score"] == 91
    assert steps["block"]["status"] == "completed" and steps["block"]["attempts"] == 3
    assert steps["block"]["result"]["body"] == {"rule_id": "r-7"}
    assert steps["verify"]["status"] == "failed" and steps["verify"]["attempts"] == 1
    assert "answered 404" in steps["verify"]["error"]
    assert steps["merge"]["status"] == "skipped"
    assert [(c["method"], c["path"]) for c in tool.calls] == [
        ("GET", "/ok"),
        ("POST", "/flaky"),
        ("POST", "/flaky"),
        ("POST", "/flaky"),
        ("GET", "/missing"),
    ]
    # Every retry of the POST carried the same key: the tool can tell a retry from a second block.
    assert {c["headers"]["Idempotency-Key"] for c in tool.calls if c["path"] == "/flaky"} == {f"{incident_id}/block"}
