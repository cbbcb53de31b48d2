"""Who approves: person-bound API keys (XORB_API_KEY_FILE `<key> <person> <role>,...`), the X-Xorb-Approver /
X-Xorb-Roles headers and XORB_APPROVER_HEADERS, on the real stack (Temporal dev server, Redis, worker + API),
through the HTTP API and `xorb incidents approve|deny`; and the key file's parsing and its one-line errors."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from typer.testing import CliRunner

from tests.cli.test_errors import ENTRY_POINTS, assert_one_line_naming, base_env, run
from tests.support.playbook_runs import incident, playbook
from tests.support.stack import API_KEY, RedisServer, RunningService, make_settings, service
from tests.support.tool_servers import PLAYBOOKS_DIR
from xorb_orchestrator.api.auth import ApiKeys
from xorb_orchestrator.cli.incidents import incidents_app
from xorb_orchestrator.config import SettingsError, load_settings
from xorb_orchestrator.config.api_keys import ApiKeyEntry, Person, parse_key_file
from xorb_orchestrator.models.playbook_run import PlaybookRunResult
from xorb_orchestrator.service import action_catalog
from xorb_orchestrator.services import playbook_runs

pytestmark = pytest.mark.timeout(90)  # async tests run on the session loop (pyproject)

# A soc-lead and erin (named) must both approve; one person counts once, whichever key they use.
LEAD_AND_ERIN = playbook(
    """
id: lead-and-erin
name: A lead and erin approve
version: "1"
steps:
  - id: go-ahead
    approval: {approvers: {roles: [soc-lead], people: [erin]}, required: 2, timeout: 10m}
  - {id: done, action: data.set, args: {ok: true}}
"""
)


def new_key() -> str:
    return "xk-" + secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Keys:
    alice: str = field(default_factory=new_key)  # soc-lead and analyst
    alice_rotated: str = field(default_factory=new_key)  # alice's second key: still one person
    erin: str = field(default_factory=new_key)  # no roles: named in the step's `people`
    mallory: str = field(default_factory=new_key)  # analyst only

    def file_text(self) -> str:
        return (
            "# person-bound keys: <key> <person> [<role>,<role>...]\n"
            f"{self.alice}  alice   soc-lead,analyst   # Alice, SOC lead\n"
            f"{self.alice_rotated} alice soc-lead,analyst\n"
            f"\n{self.erin} erin\n"
            f"{self.mallory}\tmallory\tanalyst\n"
        )


@dataclass
class IdentityStack:
    svc: RunningService
    keys: Keys

    def decide(self, incident_id: str, key: str, headers: dict[str, str] | None = None, **body: Any) -> Any:
        payload = {"step": "go-ahead", "approve": True} | body
        sent = {"Authorization": f"Bearer {key}", **(headers or {})}
        return self.svc.http.post(f"/v1/incidents/{incident_id}/approvals", json=payload, headers=sent)

    async def cli(self, key: str, *args: str) -> Any:
        argv = [*args, "--api-url", self.svc.base_url, "--api-key", key]
        return await asyncio.to_thread(CliRunner().invoke, incidents_app, argv)

    async def start(self, client: Client) -> tuple[str, str]:
        """A run of LEAD_AND_ERIN waiting on `go-ahead`: (incident id, workflow id)."""
        view = incident()
        workflow_id = await playbook_runs.start_run(
            client, self.svc.settings, action_catalog(), LEAD_AND_ERIN, view, {}, 1
        )
        await self.svc.wait_for_approval(view.incident_id, timeout=10)
        return view.incident_id, workflow_id

    async def pending(self, incident_id: str) -> dict[str, Any] | None:
        items = (await self.svc.http.get("/v1/approvals")).json()["items"]  # the service key may list
        return next((item for item in items if item["incident_id"] == incident_id), None)


@asynccontextmanager
async def identity_stack(
    temporal_address: str, redis_url: str, directory: Path, headers_mode: str
) -> AsyncIterator[IdentityStack]:
    """The real service with the person-bound keys in XORB_API_KEY_FILE, and API_KEY as a service key."""
    keys = Keys()
    key_file = directory / "api-keys"
    key_file.write_text(keys.file_text(), encoding="utf-8")
    settings = make_settings(
        temporal_address,
        redis_url,
        XORB_API_KEY_FILE=str(key_file),
        XORB_APPROVER_HEADERS=headers_mode,
        XORB_PLAYBOOKS_DIR=str(PLAYBOOKS_DIR),
    )
    async with service(settings) as svc:
        yield IdentityStack(svc, keys)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def refusing(
    temporal_address: str, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[IdentityStack]:
    async with identity_stack(temporal_address, redis_server.url, tmp_path_factory.mktemp("keys"), "refuse") as s:
        yield s


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def trusting(
    temporal_address: str, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[IdentityStack]:
    async with identity_stack(temporal_address, redis_server.url, tmp_path_factory.mktemp("keys"), "trust") as s:
        yield s


async def expect(response: Any, status: int, error: str, text: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and text in body["message"], body
    return body


async def test_a_person_key_decides_as_its_person_once(refusing: IdentityStack, temporal_client: Client) -> None:
    stack, keys = refusing, refusing.keys
    incident_id, workflow_id = await stack.start(temporal_client)
    # The key says who: mallory's key is mallory's, whatever she would like to be.
    await expect(await stack.decide(incident_id, keys.mallory), 403, "not_allowed",
                 "mallory may not decide step 'go-ahead' (allowed: role soc-lead, erin)")  # fmt: skip
    await expect(await stack.decide(incident_id, keys.mallory, {"X-Xorb-Approver": "erin"}), 403,
                 "identity_mismatch", "this API key belongs to mallory, not 'erin'")  # fmt: skip
    await expect(await stack.decide(incident_id, keys.mallory, {"X-Xorb-Roles": "soc-lead"}), 403,
                 "identity_mismatch",
                 "this API key does not give mallory the role 'soc-lead' claimed in X-Xorb-Roles (its roles: analyst)"
                 )  # fmt: skip
    # A service key cannot decide at all when headers are refused, not even with them.
    await expect(await stack.decide(incident_id, API_KEY, {"X-Xorb-Approver": "erin"}), 403, "not_bound",
                 "this API key is not bound to a person: ")  # fmt: skip
    pending = await stack.pending(incident_id)
    assert pending is not None and pending["votes"] == []  # nothing refused was recorded

    first = await stack.decide(incident_id, keys.alice, comment="confirmed C2")  # no headers at all
    assert first.status_code == 200, first.text
    answer = first.json()
    assert (answer["approver"], answer["roles"], answer["identity"]) == ("alice", ["soc-lead", "analyst"], "api_key")
    assert (answer["outcome"], answer["approvals"], answer["required"]) == ("pending", 1, 2)
    pending = await stack.pending(incident_id)
    assert pending is not None
    assert [(v["approver"], v["role"], v["comment"]) for v in pending["votes"]] == [
        ("alice", "soc-lead", "confirmed C2")
    ]
    # Alice's other key is still alice: one person counts once.
    await expect(await stack.decide(incident_id, keys.alice_rotated), 409, "approval_refused",
                 "alice has already decided step 'go-ahead': one person counts once")  # fmt: skip

    # The CLI needs neither --as nor --role with a person's key.
    result = await stack.cli(keys.erin, "approve", incident_id, "go-ahead", "-m", "ok")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"erin approved step 'go-ahead' of {incident_id}: approved (2 of 2 approvals)"
    handle = temporal_client.get_workflow_handle(workflow_id, result_type=PlaybookRunResult)
    run_result = await asyncio.wait_for(handle.result(), timeout=30)
    assert run_result.status == "completed"
    votes = next(step for step in run_result.steps if step.id == "go-ahead").votes
    assert [(v.approver, v.role, v.approve, v.via) for v in votes] == [
        ("alice", "soc-lead", True, "update"),
        ("erin", None, True, "update"),
    ]


async def test_a_service_key_cannot_decide_when_headers_are_refused(
    refusing: IdentityStack, temporal_client: Client
) -> None:
    stack = refusing
    incident_id, _ = await stack.start(temporal_client)
    body = await expect(await stack.decide(incident_id, API_KEY, {"X-Xorb-Approver": "carol",
                        "X-Xorb-Roles": "soc-lead"}), 403, "not_bound")  # fmt: skip
    assert body["message"].startswith("this API key is not bound to a person: ")
    assert "XORB_APPROVER_HEADERS=refuse" in body["message"] and "XORB_API_KEY_FILE" in body["message"]
    result = await stack.cli(API_KEY, "deny", incident_id, "go-ahead", "--as", "carol", "--role", "soc-lead")
    assert result.exit_code == 1
    assert result.output.startswith("xorb: error: this API key is not bound to a person: ")
    pending = await stack.pending(incident_id)
    assert pending is not None and pending["votes"] == []


async def test_headers_may_repeat_or_narrow_a_person_key_never_change_it(
    trusting: IdentityStack, temporal_client: Client
) -> None:
    stack, keys = trusting, trusting.keys
    incident_id, workflow_id = await stack.start(temporal_client)
    # Trusting headers is for service keys only: a person's key still cannot speak for someone else.
    await expect(await stack.decide(incident_id, keys.mallory, {"X-Xorb-Approver": "erin", "X-Xorb-Roles": ""}),
                 403, "identity_mismatch", "this API key belongs to mallory, not 'erin'")  # fmt: skip
    result = await stack.cli(keys.mallory, "approve", incident_id, "go-ahead", "--as", "alice")
    assert result.exit_code == 1
    assert result.output.startswith("xorb: error: this API key belongs to mallory, not 'alice'")
    # The key's own name and a role it gives are accepted; the recorded role is the narrowed one.
    result = await stack.cli(keys.alice, "approve", incident_id, "go-ahead", "--as", "alice", "--role", "soc-lead")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"alice approved step 'go-ahead' of {incident_id}: pending (1 of 2 approvals)"
    # A service key names the approver in the headers here (XORB_APPROVER_HEADERS=trust, the default).
    denied = await stack.decide(incident_id, API_KEY, {"X-Xorb-Approver": "erin"}, approve=False, comment="no")
    assert denied.status_code == 200, denied.text
    assert (denied.json()["identity"], denied.json()["outcome"]) == ("header", "denied")
    handle = temporal_client.get_workflow_handle(workflow_id, result_type=PlaybookRunResult)
    run_result = await asyncio.wait_for(handle.result(), timeout=30)
    votes = next(step for step in run_result.steps if step.id == "go-ahead").votes
    assert [(v.approver, v.role, v.approve) for v in votes] == [("alice", "soc-lead", True), ("erin", None, False)]


async def test_cli_with_a_service_key_defaults_to_the_login_name(
    trusting: IdentityStack, temporal_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    incident_id, _ = await trusting.start(temporal_client)
    monkeypatch.setenv("LOGNAME", "erin")  # what getpass.getuser() reads first
    result = await trusting.cli(API_KEY, "approve", incident_id, "go-ahead")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"erin approved step 'go-ahead' of {incident_id}: pending (1 of 2 approvals)"


# The key file ------------------------------------------------------------------------------------------------


def test_key_file_lines(tmp_path: Path) -> None:
    text = (
        "# comment\n"
        "\n"
        "service-key\n"
        "  alice-key   alice   soc-lead,analyst,soc-lead  # trailing comment\n"
        "erin-key\terin\n"
        "bob-key bob ,ciso,\n"
    )
    entries = parse_key_file(text, tmp_path / "keys")
    assert [(e.secret, e.person) for e in entries] == [
        ("service-key", None),
        ("alice-key", Person("alice", ("soc-lead", "analyst"))),
        ("erin-key", Person("erin", ())),
        ("bob-key", Person("bob", ("ciso",))),
    ]
    assert [e.where for e in entries] == [f"{tmp_path / 'keys'} line {n}" for n in (3, 4, 5, 6)]
    assert "alice-key" not in repr(entries)


SECRET = "s3cret-" + "x" * 20


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        (f"ok-key\n{SECRET} Alice Smith soc-lead\n", 2, "found 4 fields (a person's name has no spaces"),
        (f"{SECRET} alice soc-lead, analyst\n", 1, "roles are separated by commas without spaces"),
        (f"\n\n{SECRET} alice,bob soc-lead\n", 3, "a person's name has no commas"),
        (f"{SECRET} alice soc-lead\n{SECRET} bob soc-lead\n", 2, "this key is already listed at "),
        (f"{SECRET} alice soc-lead\n# rotated\n{SECRET}\n", 3, "with another person or roles; list it once"),
    ],
)
def test_a_bad_key_file_line_is_one_line_naming_file_and_line_never_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, line: int, says: str
) -> None:
    key_file = tmp_path / "api-keys"
    key_file.write_text(text, encoding="utf-8")
    monkeypatch.delenv("XORB_API_KEYS", raising=False)
    settings = load_settings(XORB_API_KEY_FILE=str(key_file))
    with pytest.raises(SettingsError) as caught:
        settings.load_api_key_entries()
    message = str(caught.value)
    assert message.startswith(f"invalid configuration: XORB_API_KEY_FILE: {key_file} line {line}: ")
    assert says in message and "\n" not in message
    assert SECRET not in message


def test_api_keys_variable_stays_service_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XORB_API_KEY_FILE", raising=False)
    entries = load_settings(XORB_API_KEYS=" k1 , ,k2==,k1").load_api_key_entries()
    assert [(e.secret, e.person) for e in entries] == [("k1", None), ("k2==", None)]  # base64 padding is a key
    with pytest.raises(SettingsError) as caught:
        load_settings(XORB_API_KEYS=f"k1, {SECRET} alice soc-lead").load_api_key_entries()
    assert str(caught.value) == (
        "invalid configuration: XORB_API_KEYS: entry 2 contains whitespace; separate keys with commas, and put "
        "person-bound keys ('<key> <person> <role>,<role>') in XORB_API_KEY_FILE"
    )
    key_file = tmp_path / "api-keys"
    key_file.write_text(f"k0\n{SECRET} alice soc-lead\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(XORB_API_KEYS=SECRET, XORB_API_KEY_FILE=str(key_file)).load_api_key_entries()
    message = str(caught.value)
    assert f"XORB_API_KEY_FILE: {key_file} line 2: this key is already listed in XORB_API_KEYS" in message
    assert SECRET not in message


def test_keys_are_matched_to_their_person_and_never_shown() -> None:
    keys = ApiKeys([ApiKeyEntry("alice-key", Person("alice", ("soc-lead",))), ApiKeyEntry("service-key")])
    assert keys.match("alice-key") == (True, Person("alice", ("soc-lead",)))
    assert keys.match("service-key") == (True, None)
    assert keys.match("alice-ke") == (False, None) and keys.match("") == (False, None)
    assert "key" not in repr(keys).replace("keys", "") and "alice" not in repr(keys)


def test_service_start_up_names_the_bad_key_file_line(tmp_path: Path) -> None:
    key_file = tmp_path / "api-keys"
    key_file.write_text(f"# keys\n{SECRET} Alice Smith soc-lead\n", encoding="utf-8")
    env = base_env() | {"XORB_API_KEY_FILE": str(key_file)}
    line = assert_one_line_naming(run(ENTRY_POINTS["xorb serve"], env), "XORB_API_KEY_FILE")
    assert f"{key_file} line 2" in line and SECRET not in line
