"""The bundled playbooks (playbooks/): valid with the deployment's action catalog (built-ins and connectors), shaped
as a SOC needs them (every containment approved first, undoable or one-way, its tool reached through a connection),
dry-run through the API and the CLI with zero calls, and each run for real through its connector: the C2 block
through `xorb actuator slpf` on a network namespace (approve, deny, a later failure deleting the rule), the
account suspended and signed out at a local Okta, the host contained at a local Falcon, the URL blocked at the
proxy's API, the TheHive alert raised — the vendors' stand-ins answering as their APIs document."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from temporalio.client import Client
from typer.testing import CliRunner

from tests.support.actuator import KEY_VARIABLE, Actuator, planned_actuator, running_actuator
from tests.support.netns import Pair, namespace_pair
from tests.support.paths import ROOT
from tests.support.playbook_runs import incident
from tests.support.stack import API_KEY, RedisServer
from tests.support.tool_servers import AUTHOR_KEY, PLAYBOOKS_DIR, TI_SCORE, ToolServer, ToolStack, tool_stack
from tests.support.vendors.crowdstrike import Falcon
from tests.support.vendors.okta import OktaOrg
from tests.support.vendors.thehive import ORGANISATION, TheHive
from xorb_orchestrator.cli.playbooks import playbook_app
from xorb_orchestrator.models.playbook_run import PlaybookRunResult
from xorb_orchestrator.playbook import ActionStep, ApprovalStep, Playbook
from xorb_orchestrator.playbook.catalog import check_files, load_catalog, playbook_files
from xorb_orchestrator.service import action_catalog
from xorb_orchestrator.services import playbook_runs

pytestmark = pytest.mark.timeout(90)  # async tests run on the session loop (pyproject)
ACTIONS = action_catalog()
CACAO_EXAMPLE = ROOT / "docs" / "examples" / "cacao" / "contain-ip.json"
IP = "203.0.113.7"
USER, DEVICE, URL = "00u1abcd", "a1b2c3d4e5f60718293a4b5c6d7e8f90", "https://login.evil.example/o365"
OKTA_TOKEN, FALCON_ID, FALCON_SECRET, HIVE_KEY, PROXY_TOKEN = (
    "okta-token-" + uuid.uuid4().hex, "0123456789abcdef0123456789abcdef", "falcon-secret-" + uuid.uuid4().hex,
    "hive-key-" + uuid.uuid4().hex, "proxy-token-" + uuid.uuid4().hex,
)  # fmt: skip
# playbook -> (alert observables, other inputs, its approval step (None: asks no one), the steps after it)
BUNDLED: dict[str, tuple[dict[str, Any], dict[str, Any], str | None, list[str]]] = {
    "contain-malicious-ip": ({"src_ip": IP}, {}, "approve-block", ["block-ip", "tell-blocked"]),
    "compromised-account": ({"user": USER}, {}, "approve-suspend", ["suspend-user", "sign-out", "tell-suspended"]),
    "contain-malware-host": (
        {"hostname": "ws-042"}, {"device_id": DEVICE}, "approve-contain", ["contain-host", "tell-contained"]
    ),
    "block-phishing-url": ({"url": URL}, {}, "approve-block", ["block-url", "activate", "tell-blocked"]),
    "open-case": ({"src_ip": IP}, {}, None, ["open-alert", "tell-opened"]),
}  # fmt: skip


def alert(observables: dict[str, Any]) -> dict[str, Any]:
    return {"title": "Suspicious activity", "severity": "high", "source": "test", "observables": observables}


def test_bundled_playbooks_validate_with_the_real_registry() -> None:
    reports = check_files(playbook_files([PLAYBOOKS_DIR]), ACTIONS.flags())
    assert [r.messages() for r in reports if not r.ok] == []
    assert sorted(r.playbook.id for r in reports if r.playbook) == sorted(BUNDLED)
    result = CliRunner().invoke(playbook_app, ["validate", *map(str, sorted(PLAYBOOKS_DIR.iterdir()))])
    assert result.exit_code == 0, result.output
    assert result.output.count("OK ") == len(BUNDLED)


@pytest.mark.parametrize("playbook_id", sorted(BUNDLED))
def test_every_containment_is_approved_first_undoable_or_one_way_and_reached_by_a_connection(
    playbook_id: str,
) -> None:
    playbook: Playbook = load_catalog(PLAYBOOKS_DIR, ACTIONS.flags())[playbook_id].playbook
    assert any(tag.startswith("T1") for tag in playbook.tags), "ATT&CK technique tags"
    containment = "case" not in playbook.tags  # a case record disrupts nothing: it asks no one
    seen_approval, notifies = False, 0
    for placement in playbook.walk():
        step = placement.step
        if isinstance(step, ApprovalStep):
            seen_approval = True
            assert step.approval.approvers.roles and step.approval.on_timeout.value == "escalate"
        elif isinstance(step, ActionStep) and step.action == "notify.webhook":
            notifies += 1
        elif isinstance(step, ActionStep):
            spec = ACTIONS.get(step.action)
            assert spec is not None and spec.connector, f"{step.id}: a connector action, not a bare HTTP call"
            assert spec.is_mutating(step.args), f"{step.id}: expected an effect"
            assert seen_approval or not containment, f"{step.id} runs before any approval"
            assert step.compensate is not None or spec.one_way or step.id == "activate", f"{step.id}: no undo"
            if step.compensate is not None:
                assert step.compensate.action == spec.undo or spec.undo is None, f"{step.id}: not its own undo"
            assert str(step.args["connection"]).startswith("${{ inputs."), "the connection is the deployment's"
            assert "url" not in step.args, "no tool URL in a playbook: the connection holds it"
    assert notifies >= (1 if not containment else 2)


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Actuator:
    return planned_actuator(tmp_path_factory.mktemp("actuator"))


@dataclass
class Vendors:
    okta: OktaOrg
    falcon: Falcon
    hive: TheHive

    def calls(self) -> int:
        return len(self.okta.calls()) + len(self.falcon.calls) + len(self.hive.calls)


@pytest.fixture(scope="module")
def vendors() -> Iterator[Vendors]:
    okta, hive = OktaOrg(OKTA_TOKEN), TheHive(HIVE_KEY)
    okta.add_user(USER, "carol@example.com")
    falcon = Falcon(FALCON_ID, FALCON_SECRET, {DEVICE: "ws-042"})
    okta.start()
    falcon.start()
    try:
        yield Vendors(okta, falcon, hive)
    finally:
        okta.stop()
        falcon.stop()
        hive.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    temporal_address: str,
    redis_server: RedisServer,
    planned: Actuator,
    vendors: Vendors,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ToolStack]:
    """The service with a connection to each bundled playbook's tool: the actuator (started by `gateway`, where
    namespaces exist), a local Okta, Falcon and TheHive, and the ToolServer as the proxy's API."""
    connections = tmp_path_factory.mktemp("connections") / "connections.yaml"
    falcon_url = vendors.falcon.url

    def extra(tools: ToolServer) -> dict[str, object]:
        connections.write_text(
            "connections:\n"
            + planned.connection_yaml()
            + f"""
  - name: idp
    type: okta
    url: {vendors.okta.url}
    auth: {{type: header, header: Authorization, token: "env:XORB_TEST_OKTA_TOKEN"}}
    options: {{poll_seconds: 0.05}}
  - name: edr
    type: crowdstrike
    url: {falcon_url}
    auth: {{type: oauth2, token_url: "{falcon_url}/oauth2/token", client_id: "{FALCON_ID}",
           client_secret: "env:XORB_TEST_FALCON_SECRET"}}
    options: {{poll_seconds: 0.05}}
  - name: hive
    type: thehive
    url: {vendors.hive.url}
    auth: {{type: bearer, token: "env:XORB_TEST_HIVE_KEY"}}
    options: {{organisation: {ORGANISATION}, index_settle: 2}}
  - name: proxy
    type: http
    url: {tools.url}/api/v1/
    auth: {{type: bearer, token: "env:XORB_TEST_PROXY_TOKEN"}}
"""
        )
        return {"XORB_CONNECTORS_FILE": str(connections)}

    secrets = {
        "XORB_TEST_OKTA_TOKEN": OKTA_TOKEN,
        "XORB_TEST_FALCON_SECRET": FALCON_SECRET,
        "XORB_TEST_HIVE_KEY": HIVE_KEY,
        "XORB_TEST_PROXY_TOKEN": PROXY_TOKEN,
        KEY_VARIABLE: planned.key,
    }
    with pytest.MonkeyPatch.context() as env:  # the connections' references resolve to these
        for name, value in secrets.items():
            env.setenv(name, value)
        async with tool_stack(temporal_address, redis_server.url, extra) as running:
            yield running


async def dry_run(stack: ToolStack, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    response = await stack.svc.http.post("/v1/playbooks/dry-run", json=body, timeout=90, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("playbook_id", sorted(BUNDLED))
async def test_bundled_playbook_dry_runs_with_zero_calls(stack: ToolStack, vendors: Vendors, playbook_id: str) -> None:
    observables, inputs, approval, after = BUNDLED[playbook_id]
    before = len(stack.tools.calls) + vendors.calls()
    report = await dry_run(stack, {"playbook": playbook_id, "alert": alert(observables), "inputs": inputs})
    assert report["status"] == "completed", report["error"]
    ids = [s["id"] for s in report["steps"]]
    if approval is None:
        assert ids == after and report["decisions"] == []
    else:
        assert ids == ["announce", approval, "decide", *after]
        assert report["decisions"] == [
            {"step": approval, "decision": "approved"},
            {"step": "decide", "decision": "then"},
        ]
        assert report["steps"][0]["simulated"] and "asks to" in report["steps"][0]["args"]["text"]
    assert all(s["simulated"] for s in report["steps"] if s.get("action"))
    assert report["workflow_id"].startswith("playbook-dry-run-")
    assert len(stack.tools.calls) + vendors.calls() == before and stack.sink.bodies() == []


async def test_dry_run_from_the_cli_lists_the_steps(stack: ToolStack, tmp_path: Path) -> None:
    (tmp_path / "alert.json").write_text(json.dumps(alert({"src_ip": IP})))
    args = ["run", str(PLAYBOOKS_DIR / "contain-malicious-ip.yaml"), "--alert", str(tmp_path / "alert.json"),
            "--dry-run", "--api-url", stack.svc.base_url, "--api-key", API_KEY]  # fmt: skip
    result = await asyncio.to_thread(CliRunner().invoke, playbook_app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("dry run of contain-malicious-ip (") and lines[0].endswith(": completed")
    steps = ["announce", "approve-block", "decide", "block-ip", "tell-blocked"]
    assert [line.split()[1] for line in lines[1:]] == steps
    assert f'"address":"{IP}"' in lines[4] and "simulated" in lines[4]
    # A detector's own event works as well: Suricata's EVE alert, parsed by the intake's adapter.
    eve = ROOT / "tests" / "data" / "sources" / "suricata" / "example.json"
    args = ["run", "contain-malicious-ip", "--alert", str(eve), "--source", "suricata", "--dry-run",
            "--api-url", stack.svc.base_url, "--api-key", API_KEY]  # fmt: skip
    result = await asyncio.to_thread(CliRunner().invoke, playbook_app, args)
    assert result.exit_code == 0, result.output
    event = json.loads(eve.read_text())
    block = result.output.splitlines()[4]
    assert block.split()[1] == "block-ip" and any(f'"address":"{event[k]}"' in block for k in ("src_ip", "dest_ip"))
    bad = await asyncio.to_thread(CliRunner().invoke, playbook_app, [*args[:4], "--source", "suricat", *args[6:]])
    assert bad.exit_code == 2 and "--source: expected one of generic, suricata, wazuh" in bad.output
    assert stack.tools.calls == [] and stack.sink.bodies() == []


async def test_cacao_example_dry_run_calls_nothing_and_says_what_it_would_do(stack: ToolStack, tmp_path: Path) -> None:
    """CACAO has no way to vouch for a lookup: in a dry run its GET is simulated like the rest (a dry run reads
    nothing its author did not mark `dry_run: call`), and a choice that reads it takes its else path, warned."""
    before = len(stack.tools.calls)
    report = await dry_run(
        stack, {"playbook": json.loads(CACAO_EXAMPLE.read_text()), "alert": alert({"src_ip": IP}), "inputs": {}}
    )
    assert report["status"] == "completed", report["error"]
    lookup, condition = report["steps"][:2]
    assert lookup["simulated"] and lookup["args"]["url"] == f"http://tip.test.local/api/v1/ip/{IP}"
    assert condition["decision"] == "else" and "warning" in condition["result"]
    assert stack.tools.calls[before:] == []
    # And from the CLI: the same run, the inputs taken from the alert's observables.
    (tmp_path / "alert.json").write_text(json.dumps(alert({"src_ip": IP})))
    args = ["run", str(CACAO_EXAMPLE), "--alert", str(tmp_path / "alert.json"), "--dry-run",
            "--api-url", stack.svc.base_url, "--api-key", API_KEY]  # fmt: skip
    result = await asyncio.to_thread(CliRunner().invoke, playbook_app, args)
    assert result.exit_code == 0, result.output
    assert stack.tools.calls[before:] == [] and stack.sink.bodies() == []


LOOKUPS = """
id: dry-run-lookups
name: Look up an address seven times
version: "1"
inputs:
  tip: {type: string, required: true}
steps:
  - id: unmarked
    action: http.request
    args: {url: "${{ inputs.tip }}/api/v1/ip/203.0.113.7?n=unmarked"}
  - id: each
    for_each: "[1, 2, 3, 4, 5, 6, 7]"
    steps:
      - id: lookup
        action: http.request
        dry_run: call
        args: {url: "${{ inputs.tip }}/api/v1/ip/203.0.113.7?n=${{ item }}"}
  - id: first
    action: http.request
    dry_run: call
    args: {url: "${{ inputs.tip }}/api/v1/ip/203.0.113.7?n=after"}
"""


async def test_dry_run_lookups_are_vouched_for_capped_and_not_shown_verbatim(stack: ToolStack) -> None:
    body = {"playbook": yaml.safe_load(LOOKUPS), "alert": alert({"src_ip": IP}), "inputs": {"tip": stack.tools.url}}
    before = len(stack.tools.calls)
    # A service key (a detector's) may dry-run, but its dry run looks nothing up.
    report = await dry_run(stack, body)
    assert report["status"] == "completed", report["error"]
    assert len(stack.tools.calls) == before
    assert all(s["simulated"] for s in report["steps"] if s["action"] == "http.request")
    # A person holding a role of XORB_DRY_RUN_LOOKUP_ROLES: the vouched-for lookups, capped.
    report = await dry_run(stack, body, AUTHOR_KEY)
    assert report["status"] == "completed", report["error"]
    called = sorted(c.query["n"][0] for c in stack.tools.calls[before:])
    assert called == ["1", "2", "3", "4", "5"]  # the unmarked one not at all; 5 of the rest
    records = {(s["id"], s["iteration"]): s for s in report["steps"]}
    assert records[("unmarked", None)]["simulated"]
    shown = records[("lookup", 0)]["result"]["body"]
    assert shown["withheld"] is True and shown["bytes"] == len(json.dumps(TI_SCORE)) and len(shown["sha256"]) == 64
    loop = records[("each", None)]["result"]["iterations"][0]["lookup"]["result"]["body"]
    assert loop == shown  # nor through the loop's record
    assert records[("lookup", 5)]["simulated"] and records[("first", None)]["simulated"]  # over the cap


# --- real runs, each through its connector ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(planned: Actuator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Actuator, Pair]]:
    """The actuator the `gw` connection names, on a gateway namespace (skips where namespaces are unavailable)."""
    with namespace_pair() as pair, running_actuator(planned, pair, tmp_path_factory.mktemp("slpf-log")) as actuator:
        yield actuator, pair


async def start_run(stack: ToolStack, client: Client, playbook_id: str, inputs: dict[str, Any]) -> tuple[str, str]:
    view = incident()
    known = playbook_runs.catalog(stack.svc.settings, ACTIONS)
    workflow_id = await playbook_runs.start_run(
        client, stack.svc.settings, ACTIONS, known[playbook_id].playbook, view, inputs, 1
    )
    return view.incident_id, workflow_id


async def decide(
    stack: ToolStack, incident_id: str, step: str, approve: bool, who: str, comment: str = ""
) -> dict[str, Any]:
    await stack.svc.wait_for_approval(incident_id, timeout=10)
    response = await stack.svc.http.post(
        f"/v1/incidents/{incident_id}/approvals",
        json={"step": step, "approve": approve, "comment": comment},
        headers={"X-Xorb-Approver": who, "X-Xorb-Roles": "analyst, soc-lead"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def result_of(client: Client, workflow_id: str) -> PlaybookRunResult:
    return await asyncio.wait_for(client.get_workflow_handle(workflow_id, result_type=PlaybookRunResult).result(), 60)


def texts(stack: ToolStack, incident_id: str) -> list[str]:
    return [b["text"] for b in stack.sink.bodies() if incident_id in b.get("text", "")]


async def test_approving_blocks_the_address_through_the_actuator(
    stack: ToolStack, gateway: tuple[Actuator, Pair], temporal_client: Client
) -> None:
    actuator, pair = gateway
    incident_id, workflow_id = await start_run(stack, temporal_client, "contain-malicious-ip", {"ip": pair.client_ip})
    waiting = await stack.svc.wait_for_approval(incident_id, timeout=10)
    assert waiting["approvers"] == {"roles": ["soc-lead"], "people": []} and waiting["workflow_id"] == workflow_id
    # The approver sees the command exactly as it will be sent, and nothing is sent before the decision.
    [shown] = next(i for i in (await stack.svc.http.get("/v1/approvals")).json()["items"]
                   if i["incident_id"] == incident_id)["requests"]  # fmt: skip
    assert (shown["action"], shown["args"]["address"], shown["args"]["duration"]) == (
        "openc2.deny",
        pair.client_ip,
        "24h",
    )
    assert actuator.rules_for(pair.client_ip) == [] and pair.reachable()
    decision = await decide(stack, incident_id, "approve-block", True, "carol")
    assert (decision["outcome"], decision["approvals"]) == ("approved", 1)
    result = await result_of(temporal_client, workflow_id)
    assert result.status == "completed", result.error
    assert result.decisions() == [("approve-block", "approved"), ("decide", "then")]
    block = next(s for s in result.steps if s.id == "block-ip")
    [rule] = actuator.rules_for(pair.client_ip)
    receipt = block.result["receipt"]
    assert (receipt["tool"], receipt["connection"], receipt["handle"]) == (
        "openc2-slpf",
        "gw",
        f"slpf:rule_number {rule}",
    )
    assert receipt["expires_at"] and receipt["undo"] == {"action": "openc2.delete",
                                                         "args": {"rule_number": rule, "connection": "gw"}}  # fmt: skip
    assert not pair.reachable()  # dropped on the gateway
    assert texts(stack, incident_id)[-1].endswith(f"{pair.client_ip} is blocked on the edge firewall.")


async def test_denying_takes_the_deny_path_and_sends_nothing(
    stack: ToolStack, gateway: tuple[Actuator, Pair], temporal_client: Client
) -> None:
    actuator, _ = gateway
    before = actuator.rules()
    incident_id, workflow_id = await start_run(stack, temporal_client, "contain-malicious-ip", {"ip": IP})
    assert (await decide(stack, incident_id, "approve-block", False, "dave", "false positive"))["outcome"] == "denied"
    result = await result_of(temporal_client, workflow_id)
    assert result.decisions() == [("approve-block", "denied"), ("decide", "else")]
    assert actuator.rules() == before
    assert texts(stack, incident_id)[-1].endswith(f"{IP} NOT blocked: denied by dave: false positive.")


async def test_a_failure_after_the_block_deletes_the_rule(
    stack: ToolStack, gateway: tuple[Actuator, Pair], temporal_client: Client
) -> None:
    actuator, pair = gateway
    stack.refuse.append("is blocked")  # the SOC channel refuses the "blocked" message: the run must undo
    try:
        incident_id, workflow_id = await start_run(
            stack, temporal_client, "contain-malicious-ip", {"ip": pair.client_ip}
        )
        await decide(stack, incident_id, "approve-block", True, "carol")
        result = await result_of(temporal_client, workflow_id)
    finally:
        stack.refuse.clear()
    assert result.status == "failed" and "tell-blocked" in (result.error or "")
    assert [(u.step_id, u.status) for u in result.compensations] == [("block-ip", "completed")]
    assert actuator.rules_for(pair.client_ip) == [] and pair.reachable()


async def test_the_account_is_suspended_and_signed_out_at_okta(
    stack: ToolStack, vendors: Vendors, temporal_client: Client
) -> None:
    incident_id, workflow_id = await start_run(stack, temporal_client, "compromised-account", {"user": USER})
    await decide(stack, incident_id, "approve-suspend", True, "carol")
    result = await result_of(temporal_client, workflow_id)
    assert result.status == "completed", result.error
    assert vendors.okta.status(USER) == "SUSPENDED"
    effects = [call for call in vendors.okta.calls() if call[0] != "GET"]
    assert effects == [
        ("POST", f"/api/v1/users/{USER}/lifecycle/suspend"),
        ("DELETE", f"/api/v1/users/{USER}/sessions"),
    ]
    suspend = next(s for s in result.steps if s.id == "suspend-user").result["receipt"]
    assert suspend["undo"]["action"] == "okta.unsuspend_user" and suspend["verified"]["ok"] is True


async def test_a_user_name_crafted_as_a_path_stays_one_segment_of_the_okta_calls(
    stack: ToolStack, vendors: Vendors, temporal_client: Client
) -> None:
    """The security trial's injection: a `user` observable `ceo-id/lifecycle/deactivate#` once turned the suspend
    call into POST /api/v1/users/ceo-id/lifecycle/deactivate. Alert content is data: one encoded path segment."""
    crafted = "ceo-id/lifecycle/deactivate#"
    before = len(vendors.okta.calls())
    incident_id, workflow_id = await start_run(stack, temporal_client, "compromised-account", {"user": crafted})
    await stack.svc.wait_for_approval(incident_id, timeout=10)
    waiting = (await stack.svc.http.get("/v1/approvals")).json()["items"]
    shown = next(item for item in waiting if item["incident_id"] == incident_id)["requests"]
    assert [(s["step_id"], s["args"]["user"]) for s in shown] == [("suspend-user", crafted), ("sign-out", crafted)]
    await decide(stack, incident_id, "approve-suspend", True, "carol")
    result = await result_of(temporal_client, workflow_id)
    assert result.status == "failed" and "not found" in (result.error or "").lower(), result.error
    calls = vendors.okta.calls()[before:]
    assert calls and all(path.startswith("/api/v1/users/ceo-id%2Flifecycle%2Fdeactivate%23") for _, path in calls)
    assert all(method == "GET" for method, _ in calls)  # the user is read first: nothing else was touched


async def test_the_host_is_contained_at_the_edr(stack: ToolStack, vendors: Vendors, temporal_client: Client) -> None:
    inputs = {"hostname": "ws-042", "device_id": DEVICE}
    incident_id, workflow_id = await start_run(stack, temporal_client, "contain-malware-host", inputs)
    await decide(stack, incident_id, "approve-contain", True, "carol")
    result = await result_of(temporal_client, workflow_id)
    assert result.status == "completed", result.error
    assert vendors.falcon.actions == [("contain", DEVICE)] and vendors.falcon.status[DEVICE] == "contained"
    receipt = next(s for s in result.steps if s.id == "contain-host").result["receipt"]
    assert receipt["undo"] == {
        "action": "crowdstrike.lift_containment",
        "args": {"device_id": DEVICE, "connection": "edr"},
    }
    assert FALCON_SECRET not in json.dumps(result.model_dump(mode="json"))


async def test_the_url_is_blocked_at_the_proxy_with_the_connection_s_token(
    stack: ToolStack, temporal_client: Client
) -> None:
    before = len(stack.tools.calls)
    incident_id, workflow_id = await start_run(stack, temporal_client, "block-phishing-url", {"url": URL})
    await decide(stack, incident_id, "approve-block", True, "carol")
    result = await result_of(temporal_client, workflow_id)
    assert result.status == "completed", result.error
    calls = stack.tools.calls[before:]
    assert [(c.method, c.path, c.query) for c in calls] == [
        ("PUT", "/api/v1/urlCategories/CUSTOM_01", {"action": ["ADD_TO_LIST"]}),
        ("POST", "/api/v1/status/activate", {}),
    ]
    assert calls[0].body == {"configuredName": "Blocked by xorb", "urls": [URL]}
    assert {c.headers["Authorization"] for c in calls} == {f"Bearer {PROXY_TOKEN}"}
    assert calls[0].headers["Idempotency-Key"] == f"{incident_id}/{workflow_id}/block-url"
    assert stack.tools.state["zia:CUSTOM_01"] == {URL}


async def test_a_thehive_alert_is_raised_once_for_the_incident(
    stack: ToolStack, vendors: Vendors, temporal_client: Client
) -> None:
    incident_id, workflow_id = await start_run(stack, temporal_client, "open-case", {})
    result = await result_of(temporal_client, workflow_id)
    assert result.status == "completed", result.error
    [alert_] = [a for a in vendors.hive.alerts.values() if a["sourceRef"] == incident_id]
    assert alert_["title"] == "Beaconing to 203.0.113.7" and "severity:high" in alert_["tags"]
    said = f"Incident {incident_id}: an alert is open in TheHive for it (sourceRef {incident_id})."
    assert texts(stack, incident_id) == [said]
