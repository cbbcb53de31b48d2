"""The bundled playbooks (playbooks/): valid with the real action registry, shaped as a SOC needs them, dry-run
through the API and the CLI with zero mutating calls, and one run for real against local stand-ins for the tools:
approving through the API lets it block, denying takes the deny path, a failure later undoes the block."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from temporalio.client import Client
from typer.testing import CliRunner

from tests.support.paths import ROOT
from tests.support.playbook_runs import incident
from tests.support.stack import API_KEY, RedisServer
from tests.support.tool_servers import AUTHOR_KEY, PLAYBOOKS_DIR, TI_SCORE, ToolStack, tool_stack
from xorb_orchestrator.cli.playbooks import playbook_app
from xorb_orchestrator.models.playbook_run import PlaybookRunResult
from xorb_orchestrator.playbook import BUILTIN_ACTIONS, ActionStep, ApprovalStep, Playbook
from xorb_orchestrator.playbook.catalog import check_files, load_catalog, playbook_files
from xorb_orchestrator.services import playbook_runs

pytestmark = pytest.mark.timeout(90)  # async tests run on the session loop (pyproject)
CACAO_EXAMPLE = ROOT / "docs" / "examples" / "cacao" / "contain-ip.json"
IP = "203.0.113.7"
# playbook -> (alert observables, inputs besides the tool's base URL, the tool input, the expected step order)
BUNDLED: dict[str, tuple[dict[str, Any], dict[str, Any], str, list[str]]] = {
    "contain-malicious-ip": ({"src_ip": IP}, {}, "firewall_api", ["approve-block", "block-ip", "tell-blocked"]),
    "compromised-account": (
        {"user": "00u1abcd"}, {}, "idp_api", ["approve-suspend", "suspend-user", "tell-suspended"]
    ),
    "contain-malware-host": (
        {"hostname": "ws-042"}, {"device_id": "a1b2c3"}, "edr_api",
        ["approve-contain", "contain-host", "tell-contained"],
    ),
    "block-phishing-url": (
        {"url": "https://login.evil.example/o365"}, {}, "proxy_api", ["approve-block", "block-url", "tell-blocked"]
    ),
}  # fmt: skip


def alert(observables: dict[str, Any]) -> dict[str, Any]:
    return {"title": "Suspicious activity", "severity": "high", "source": "test", "observables": observables}


def test_bundled_playbooks_validate_with_the_real_registry() -> None:
    reports = check_files(playbook_files([PLAYBOOKS_DIR]), BUILTIN_ACTIONS.flags())
    assert [r.messages() for r in reports if not r.ok] == []
    assert sorted(r.playbook.id for r in reports if r.playbook) == sorted(BUNDLED)
    result = CliRunner().invoke(playbook_app, ["validate", *map(str, sorted(PLAYBOOKS_DIR.iterdir()))])
    assert result.exit_code == 0, result.output
    assert result.output.count("OK ") == 4


@pytest.mark.parametrize("playbook_id", sorted(BUNDLED))
def test_every_disruptive_step_is_approved_first_and_compensated(playbook_id: str) -> None:
    playbook: Playbook = load_catalog(PLAYBOOKS_DIR, BUILTIN_ACTIONS.flags())[playbook_id].playbook
    assert any(tag.startswith("T1") for tag in playbook.tags), "ATT&CK technique tags"
    assert "later issue" in (playbook.description or "")
    seen_approval, notifies = False, 0
    for placement in playbook.walk():
        step = placement.step
        if isinstance(step, ApprovalStep):
            seen_approval = True
            assert step.approval.approvers.roles and step.approval.on_timeout.value == "escalate"
        elif isinstance(step, ActionStep) and step.action == "notify.webhook":
            notifies += 1
        elif isinstance(step, ActionStep):
            spec = BUILTIN_ACTIONS.get(step.action)
            assert spec is not None and spec.is_mutating(step.args), f"{step.id}: expected a disruptive call"
            assert seen_approval, f"{step.id} runs before any approval"
            assert step.compensate is not None, f"{step.id} has no compensation"
            assert "${{ inputs." in step.args["url"], "the tool's host comes from inputs"
    assert notifies >= 2


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(temporal_address: str, redis_server: RedisServer) -> AsyncIterator[ToolStack]:
    async with tool_stack(temporal_address, redis_server.url) as running:
        yield running


async def dry_run(stack: ToolStack, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else None
    response = await stack.svc.http.post("/v1/playbooks/dry-run", json=body, timeout=90, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("playbook_id", sorted(BUNDLED))
async def test_bundled_playbook_dry_runs_with_zero_mutating_calls(stack: ToolStack, playbook_id: str) -> None:
    observables, inputs, tool_input, (approval, disruptive, told) = BUNDLED[playbook_id]
    body = {"playbook": playbook_id, "alert": alert(observables), "inputs": {**inputs, tool_input: stack.tools.url}}
    report = await dry_run(stack, body)
    assert report["status"] == "completed", report["error"]
    assert [s["id"] for s in report["steps"]] == ["announce", approval, "decide", disruptive, told]
    assert report["decisions"] == [{"step": approval, "decision": "approved"}, {"step": "decide", "decision": "then"}]
    step = report["steps"][3]
    assert step["simulated"] and step["args"]["url"].startswith(stack.tools.url + "/")
    assert report["steps"][0]["simulated"] and "asks to" in report["steps"][0]["args"]["text"]
    assert report["workflow_id"].startswith("playbook-dry-run-")
    assert stack.tools.calls == [] and stack.sink.bodies() == []


async def test_dry_run_from_the_cli_lists_the_steps(stack: ToolStack, tmp_path: Path) -> None:
    (tmp_path / "alert.json").write_text(json.dumps(alert({"src_ip": IP})))
    args = ["run", str(PLAYBOOKS_DIR / "contain-malicious-ip.yaml"), "--alert", str(tmp_path / "alert.json"),
            "--dry-run", "--input", f"firewall_api={stack.tools.url}", "--api-url", stack.svc.base_url,
            "--api-key", API_KEY]  # fmt: skip
    result = await asyncio.to_thread(CliRunner().invoke, playbook_app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("dry run of contain-malicious-ip (") and lines[0].endswith(": completed")
    steps = ["announce", "approve-block", "decide", "block-ip", "tell-blocked"]
    assert [line.split()[1] for line in lines[1:]] == steps
    assert f'"address":"{IP}"' in lines[4] and "simulated" in lines[4]
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


# --- a real run, against the ToolServer standing in for the firewall -------------------------------------------


async def start_ip_run(stack: ToolStack, temporal_client: Client) -> tuple[str, str]:
    view = incident()
    known = playbook_runs.catalog(stack.svc.settings, BUILTIN_ACTIONS)
    workflow_id = await playbook_runs.start_run(
        temporal_client,
        stack.svc.settings,
        BUILTIN_ACTIONS,
        known["contain-malicious-ip"].playbook,
        view,
        {"ip": IP, "firewall_api": stack.tools.url},
        1,
    )
    return view.incident_id, workflow_id


async def pending(stack: ToolStack, incident_id: str) -> dict[str, Any]:
    return await stack.svc.wait_for_approval(incident_id, timeout=10)


async def decide(stack: ToolStack, incident_id: str, approve: bool, who: str, comment: str = "") -> dict[str, Any]:
    response = await stack.svc.http.post(
        f"/v1/incidents/{incident_id}/approvals",
        json={"step": "approve-block", "approve": approve, "comment": comment},
        headers={"X-Xorb-Approver": who, "X-Xorb-Roles": "analyst, soc-lead"},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def result_of(client: Client, workflow_id: str) -> PlaybookRunResult:
    return await asyncio.wait_for(client.get_workflow_handle(workflow_id, result_type=PlaybookRunResult).result(), 30)


def texts(stack: ToolStack, incident_id: str) -> list[str]:
    return [b["text"] for b in stack.sink.bodies() if incident_id in b.get("text", "")]


async def test_approving_through_the_api_blocks_the_ip(stack: ToolStack, temporal_client: Client) -> None:
    incident_id, workflow_id = await start_ip_run(stack, temporal_client)
    waiting = await pending(stack, incident_id)
    assert waiting["approvers"] == {"roles": ["soc-lead"], "people": []}
    assert (waiting["step_id"], waiting["required"], waiting["received"]) == ("approve-block", 1, 0)
    assert waiting["workflow_id"] == workflow_id and waiting["deadline"]
    assert not [c for c in stack.tools.calls if c.path.startswith("/api/firewall")]  # nothing before approval
    decision = await decide(stack, incident_id, True, "carol")
    assert (decision["outcome"], decision["approvals"]) == ("approved", 1)
    result = await result_of(temporal_client, workflow_id)
    assert result.status == "completed", result.error
    assert result.decisions() == [("approve-block", "approved"), ("decide", "then")]
    assert result.steps[1].votes[0].approver == "carol" and result.steps[1].votes[0].role == "soc-lead"
    calls = [c for c in stack.tools.calls if c.path.startswith("/api/firewall")]
    assert [(c.method, c.path, c.body) for c in calls] == [
        ("POST", "/api/firewall/alias_util/add/xorb_blocklist", {"address": IP})
    ]
    assert calls[0].headers["Idempotency-Key"] == f"{incident_id}/{workflow_id}/block-ip"
    assert len(texts(stack, incident_id)) == 2 and "is blocked" in texts(stack, incident_id)[1]


async def test_denying_through_the_api_takes_the_deny_path(stack: ToolStack, temporal_client: Client) -> None:
    before = len(stack.tools.calls)
    incident_id, workflow_id = await start_ip_run(stack, temporal_client)
    await pending(stack, incident_id)
    assert (await decide(stack, incident_id, False, "dave", "false positive"))["outcome"] == "denied"
    result = await result_of(temporal_client, workflow_id)
    assert result.status == "completed"
    assert result.decisions() == [("approve-block", "denied"), ("decide", "else")]
    assert stack.tools.calls[before:] == []
    assert texts(stack, incident_id)[-1].endswith(f"{IP} NOT blocked: denied by dave: false positive.")


async def test_a_failure_after_the_block_unblocks(stack: ToolStack, temporal_client: Client) -> None:
    before = len(stack.tools.calls)
    stack.refuse.append("is blocked")  # the SOC channel refuses the "blocked" message: the run must undo
    try:
        incident_id, workflow_id = await start_ip_run(stack, temporal_client)
        await pending(stack, incident_id)
        await decide(stack, incident_id, True, "carol")
        result = await result_of(temporal_client, workflow_id)
    finally:
        stack.refuse.clear()
    assert result.status == "failed" and "tell-blocked" in (result.error or "")
    assert [(u.step_id, u.status) for u in result.compensations] == [("block-ip", "completed")]
    paths = [c.path for c in stack.tools.calls[before:]]
    assert paths == ["/api/firewall/alias_util/add/xorb_blocklist", "/api/firewall/alias_util/delete/xorb_blocklist"]
    assert stack.tools.state["alias:xorb_blocklist"] == set()


async def test_a_user_name_crafted_as_a_path_stays_one_segment_of_the_suspend_call(
    stack: ToolStack, temporal_client: Client
) -> None:
    """The security trial's injection: a `user` observable `ceo-id/lifecycle/deactivate#` once turned the suspend
    call into POST /api/v1/users/ceo-id/lifecycle/deactivate. Alert content is data: one encoded path segment."""
    view = incident()
    known = playbook_runs.catalog(stack.svc.settings, BUILTIN_ACTIONS)
    crafted = "ceo-id/lifecycle/deactivate#"
    workflow_id = await playbook_runs.start_run(
        temporal_client,
        stack.svc.settings,
        BUILTIN_ACTIONS,
        known["compromised-account"].playbook,
        view,
        {"user": crafted, "idp_api": stack.tools.url},
        1,
    )
    await stack.svc.wait_for_approval(view.incident_id, timeout=10)
    waiting = (await stack.svc.http.get("/v1/approvals")).json()["items"]
    [shown] = next(item for item in waiting if item["incident_id"] == view.incident_id)["requests"]
    # The approver sees the request exactly as it will be sent: the crafted name is one encoded segment.
    suspend_url = f"{stack.tools.url}/api/v1/users/ceo-id%2Flifecycle%2Fdeactivate%23/lifecycle/suspend"
    assert (shown["step_id"], shown["args"]["method"], shown["args"]["url"]) == ("suspend-user", "POST", suspend_url)
    response = await stack.svc.http.post(
        f"/v1/incidents/{view.incident_id}/approvals",
        json={"step": "approve-suspend", "approve": True},
        headers={"X-Xorb-Approver": "carol", "X-Xorb-Roles": "soc-lead"},
    )
    assert response.status_code == 200, response.text
    await result_of(temporal_client, workflow_id)
    calls = [(c.method, c.path) for c in stack.tools.calls if c.path.startswith("/api/v1/users/")]
    assert calls[0] == ("POST", "/api/v1/users/ceo-id%2Flifecycle%2Fdeactivate%23/lifecycle/suspend")
    assert all("/lifecycle/deactivate" not in path.replace("%2F", "") for _, path in calls)
