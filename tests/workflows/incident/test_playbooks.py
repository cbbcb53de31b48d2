"""Playbooks in the incident flow, on the real stack: an alert's techniques pick a playbook, the incident runs it
as a child workflow and shows each of its steps; approving through the API lets it continue, silence takes the
timeout path, a failing step undoes what was done, and editing the file never changes a run under way."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client
from typer.testing import CliRunner

from tests.support.playbook_runs import NOTICE_STARTS
from tests.support.stack import API_KEY, RedisServer
from tests.support.tool_servers import ToolServer, ToolStack, tool_stack
from xorb_orchestrator.cli.incidents import incidents_app
from xorb_orchestrator.playbook import parse_playbook_text

pytestmark = pytest.mark.timeout(120)

# Tagged T1071.001: a beacon. parallel (look up + announce), an approval (4 s, silence denies), an if on it, and
# a bounded for_each that contains each host (undone by lift_containment if a later step fails).
BEACON = """
id: respond-beacon
name: Respond to a C2 beacon
version: "1"
tags: [c2, T1071.001]
inputs:
  src_ip: {type: string, required: true}
  hostname: {type: list, default: []}
  tools: {type: string, required: true}
steps:
  - id: gather
    parallel:
      - - id: lookup
          action: http.request
          args: {method: GET, url: "${{ inputs.tools }}/api/v1/ip/${{ inputs.src_ip }}"}
      - - id: announce
          action: notify.webhook
          args: {text: "beacon from ${{ inputs.src_ip }} (${{ incident.id }})"}
    join: all
  - id: approve-contain
    when: "steps.lookup.result.status == 200"
    approval:
      message: "Contain ${{ size(inputs.hostname) }} host(s) talking to ${{ inputs.src_ip }}?"
      approvers: {roles: [soc-lead]}
      timeout: 4s
      on_timeout: deny
    on_failure: continue
  - id: act
    if: "steps['approve-contain'].approved == true"
    then:
      - id: contain-hosts
        for_each: "inputs.hostname"
        max_items: 10
        concurrency: 2
        steps:
          - id: contain
            action: http.request
            args:
              method: POST
              url: "${{ inputs.tools }}/devices/entities/devices-actions/v2?action_name=contain"
              json: {ids: ["${{ item }}"]}
            compensate:
              action: http.request
              args:
                method: POST
                url: "${{ inputs.tools }}/devices/entities/devices-actions/v2?action_name=lift_containment"
                json: {ids: ["${{ item }}"]}
      - id: tell-contained
        action: notify.webhook
        args: {text: "contained ${{ size(inputs.hostname) }} host(s) for ${{ incident.id }}"}
    else:
      - id: tell-not-contained
        action: notify.webhook
        args: {text: "NOT contained for ${{ incident.id }}: ${{ steps['approve-contain'].error }}"}
"""

# Tagged T1486 (ransomware): block two things, then a step the tool refuses (404): both blocks are undone.
FAILING = """
id: isolate-ransomware
name: Isolate ransomware (its last step fails)
version: "1"
tags: [T1486]
inputs:
  hostname: {type: string, required: true}
  tools: {type: string, required: true}
steps:
  - id: go
    approval: {approvers: {roles: [soc-lead]}, timeout: 1s, on_timeout: approve}
  - id: block-first
    action: http.request
    args: {method: POST, url: "${{ inputs.tools }}/api/firewall/alias_util/add/ransom", json: {address: "10.9.9.1"}}
    compensate:
      action: http.request
      args:
        method: POST
        url: "${{ inputs.tools }}/api/firewall/alias_util/delete/ransom"
        json: {address: "10.9.9.1"}
  - id: contain-host
    action: http.request
    args:
      method: POST
      url: "${{ inputs.tools }}/devices/entities/devices-actions/v2?action_name=contain"
      json: {ids: ["${{ inputs.hostname }}"]}
    compensate:
      action: http.request
      args:
        method: POST
        url: "${{ inputs.tools }}/devices/entities/devices-actions/v2?action_name=lift_containment"
        json: {ids: ["${{ inputs.hostname }}"]}
  - id: open-ticket
    action: http.request
    args: {method: POST, url: "${{ inputs.tools }}/no/such/ticket/api", json: {host: "${{ inputs.hostname }}"}}
"""

# The response policy of these tests: ask people (through the playbooks' own approvals) about any address or host.
POLICY = """
version: 1
name: ask-about-everything
rules:
  - name: ask
    targets: [{type: ip}, {type: hostname}]
    playbook: candidate
    autonomy: approve
  - name: observe
    playbook: none
    autonomy: observe
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    temporal_address: str, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ToolStack]:
    directory = tmp_path_factory.mktemp("playbooks")
    (directory / "respond-beacon.yaml").write_text(BEACON)
    (directory / "isolate-ransomware.yaml").write_text(FAILING)
    policy = tmp_path_factory.mktemp("policy") / "policy.yaml"
    policy.write_text(POLICY)

    def settings(tools: ToolServer) -> dict[str, object]:
        inputs = {"*": {"tools": tools.url}}
        return {
            "XORB_PLAYBOOKS_DIR": str(directory),
            "XORB_PLAYBOOK_INPUTS": json.dumps(inputs),
            "XORB_POLICY_FILE": str(policy),
        }

    async with tool_stack(temporal_address, redis_server.url, settings) as running:
        running.playbooks_dir = directory  # type: ignore[attr-defined]
        yield running


def beacon(hosts: list[str], technique: str = "T1071.001") -> dict[str, Any]:
    return {
        "title": "C2 beacon",
        "severity": "high",
        "source": "test",
        "rule": "beacon-" + uuid.uuid4().hex[:8],  # one incident per test
        "observables": {"src_ip": "203.0.113.9", "hostname": hosts},
        "techniques": [technique],
    }


async def incident(stack: ToolStack, incident_id: str) -> dict[str, Any]:
    response = await stack.svc.http.get(f"/v1/incidents/{incident_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def step_ids(view: dict[str, Any]) -> list[tuple[str, int | None, str]]:
    return [(s["id"], s["iteration"], s["status"]) for s in view["playbook_run"]["steps"]]


def texts(stack: ToolStack, incident_id: str) -> list[str]:
    """What the playbooks said about the incident (the engine's approval notices left out)."""
    said = [str(item["body"]["text"]) for item in stack.sink.received if incident_id in str(item["body"])]
    return [text for text in said if not text.startswith(NOTICE_STARTS)]


def containment_calls(stack: ToolStack, hosts: set[str]) -> list[tuple[str, str]]:
    return [
        (c.query["action_name"][0], c.body["ids"][0])
        for c in stack.tools.calls
        if c.path == "/devices/entities/devices-actions/v2" and c.body["ids"][0] in hosts
    ]


async def first_actions_timed(stack: ToolStack) -> float:
    """xorb_alert_to_first_action_seconds' count (the process's registry: earlier tests counted too)."""
    for line in (await stack.svc.http.get("/metrics")).text.splitlines():
        if line.startswith("xorb_alert_to_first_action_seconds_count "):
            return float(line.split()[1])
    return 0.0


async def test_approving_through_the_api_lets_the_playbook_continue(stack: ToolStack) -> None:
    hosts = ["ws-approved-1", "ws-approved-2"]
    timed_before = await first_actions_timed(stack)
    incident_id = await stack.svc.send_alert(beacon(hosts))
    approval = await stack.svc.wait_for_approval(incident_id)
    assert approval["step_id"] == "approve-contain" and approval["playbook_id"] == "respond-beacon"
    assert approval["message"] == "Contain 2 host(s) talking to 203.0.113.9?"
    assert approval["workflow_id"] == f"playbook-{incident_id}-1"

    # At the terminal, the SOC sees it waiting.
    cli = ["approvals", "--api-url", stack.svc.base_url, "--api-key", API_KEY]
    listed = await asyncio.to_thread(CliRunner().invoke, incidents_app, cli)
    assert listed.exit_code == 0, listed.output
    assert f"{incident_id}  approve-contain  (respond-beacon)  0 of 1 from role soc-lead; deadline " in listed.output
    assert "    Contain 2 host(s) talking to 203.0.113.9?" in listed.output

    # While it waits, the incident shows the plan, the run's live steps and the approval it waits for.
    view = await incident(stack, incident_id)
    assert view["status"] == "awaiting_approval"  # running, and its playbook waits for people
    waiting = (await stack.svc.http.get("/v1/incidents", params={"status": "awaiting_approval"})).json()["items"]
    assert incident_id in {item["incident_id"] for item in waiting}
    assert view["plan"]["playbook"] == "respond-beacon" and view["plan"]["run"] is None  # content: in history
    assert view["plan"]["inputs"] == {"src_ip": "203.0.113.9", "hostname": hosts, "tools": stack.tools.url}
    pinned = view["plan"]["playbook_sha256"]
    assert pinned == parse_playbook_text(BEACON, "yaml").content_sha256()
    assert view["playbook_run"]["status"] == "running"
    assert [a["step_id"] for a in view["playbook_run"]["pending_approvals"]] == ["approve-contain"]
    assert ("lookup", None, "completed") in step_ids(view) and ("announce", None, "completed") in step_ids(view)

    # Editing the file now changes the next incident's plan, never this run.
    path: Path = stack.playbooks_dir / "respond-beacon.yaml"  # type: ignore[attr-defined]
    path.write_text(BEACON.replace("contained ${{", "EDITED contained ${{"))
    try:
        response = await stack.svc.http.post(
            f"/v1/incidents/{incident_id}/approvals",
            json={"step": "approve-contain", "approve": True, "comment": "two workstations beaconing"},
            headers={"X-Xorb-Approver": "carol", "X-Xorb-Roles": "soc-lead"},
        )
        assert response.status_code == 200, response.text
        assert response.json()["outcome"] == "approved"
        scrape = (await stack.svc.http.get("/metrics")).text
        assert 'xorb_approval_decisions_total{decision="approve",identity="header"}' in scrape
        done = await stack.svc.wait_for_incident(incident_id, timeout=30)
    finally:
        path.write_text(BEACON)

    run = done["playbook_run"]
    assert run["status"] == "completed" and run["playbook_sha256"] == pinned and done["error"] is None
    ids = step_ids(done)
    assert ids[:6] == [
        ("gather", None, "completed"),
        ("lookup", None, "completed"),
        ("announce", None, "completed"),
        ("approve-contain", None, "completed"),
        ("act", None, "completed"),
        ("contain-hosts", None, "completed"),
    ]
    assert sorted(ids[6:8]) == [("contain", 0, "completed"), ("contain", 1, "completed")]  # 2 at a time
    assert ids[8:] == [("tell-contained", None, "completed")]
    approve = next(s for s in run["steps"] if s["id"] == "approve-contain")
    assert [(v["approver"], v["role"], v["comment"]) for v in approve["votes"]] == [
        ("carol", "soc-lead", "two workstations beaconing")
    ]
    assert next(s for s in run["steps"] if s["id"] == "act")["decision"] == "then"
    assert sorted(containment_calls(stack, set(hosts))) == [("contain", h) for h in hosts]  # once each, no undo
    assert texts(stack, incident_id) == [
        f"beacon from 203.0.113.9 ({incident_id})",
        f"contained 2 host(s) for {incident_id}",  # the pinned text, not the edited file's
    ]
    assert done["steps"] == []  # the built-in plan's steps: none, the playbook ran
    # The playbook's first action was timed from the alert, once (not each of its actions).
    assert await first_actions_timed(stack) == timed_before + 1


async def test_silence_takes_the_approval_timeout_path(stack: ToolStack) -> None:
    hosts = ["ws-silent-1"]
    incident_id = await stack.svc.send_alert(beacon(hosts))
    await stack.svc.wait_for_approval(incident_id)
    done = await stack.svc.wait_for_incident(incident_id, timeout=40)  # nobody answers the 4 s approval
    run = done["playbook_run"]
    assert run["status"] == "completed"
    approve = next(s for s in run["steps"] if s["id"] == "approve-contain")
    assert (approve["status"], approve["error"]) == ("timed_out", "no decision within 4s: denied")
    assert next(s for s in run["steps"] if s["id"] == "act")["decision"] == "else"
    assert [s[0] for s in step_ids(done)][-1] == "tell-not-contained"
    assert containment_calls(stack, set(hosts)) == []  # nothing was contained
    assert texts(stack, incident_id)[-1].startswith(f"NOT contained for {incident_id}: ")


async def test_a_failing_step_undoes_the_two_before_it_in_reverse_order_once(stack: ToolStack) -> None:
    host = "ws-ransom-" + uuid.uuid4().hex[:6]
    alert = beacon([], technique="T1486") | {"observables": {"hostname": host}}
    incident_id = await stack.svc.send_alert(alert)
    done = await stack.svc.wait_for_incident(incident_id, status="failed", timeout=40)
    run = done["playbook_run"]
    assert run["status"] == "failed"
    assert [(s["id"], s["status"]) for s in run["steps"]] == [
        ("go", "completed"),
        ("block-first", "completed"),
        ("contain-host", "completed"),
        ("open-ticket", "failed"),
    ]
    assert [(u["step_id"], u["status"]) for u in run["compensations"]] == [
        ("contain-host", "completed"),
        ("block-first", "completed"),
    ]
    assert done["error"].startswith("playbook isolate-ransomware failed: step 'open-ticket' failed: POST ")
    calls = [
        (c.path, c.query.get("action_name", [""])[0])
        for c in stack.tools.calls
        if host in json.dumps(c.body) or c.path.endswith("/ransom")
    ]
    assert calls == [
        ("/api/firewall/alias_util/add/ransom", ""),
        ("/devices/entities/devices-actions/v2", "contain"),
        ("/no/such/ticket/api", ""),
        ("/devices/entities/devices-actions/v2", "lift_containment"),
        ("/api/firewall/alias_util/delete/ransom", ""),
    ]
    assert stack.tools.state["falcon:contained"].isdisjoint({host}) and stack.tools.state["alias:ransom"] == set()
    scrape = (await stack.svc.http.get("/metrics")).text
    assert 'xorb_playbook_runs_finished_total{playbook="isolate-ransomware",status="failed"} 1.0' in scrape
    assert 'xorb_compensations_total{status="completed"}' in scrape


async def test_without_a_matching_playbook_the_built_in_plan_runs(stack: ToolStack) -> None:
    incident_id = await stack.svc.send_alert(beacon(["ws-x"], technique="T1059.001"))
    done = await stack.svc.wait_for_incident(incident_id, timeout=30)
    assert done["plan"]["playbook"] == "notify-soc" and done["playbook_run"] is None
    assert [s["action"] for s in done["steps"]] == ["notify.webhook"]


async def test_a_reset_incident_never_starts_its_playbook_run_again(stack: ToolStack, temporal_client: Client) -> None:
    hosts = ["ws-reset-1"]
    incident_id = await stack.svc.send_alert(beacon(hosts))
    await stack.svc.wait_for_approval(incident_id)
    response = await stack.svc.http.post(
        f"/v1/incidents/{incident_id}/approvals",
        json={"step": "approve-contain", "approve": True},
        headers={"X-Xorb-Approver": "carol", "X-Xorb-Roles": "soc-lead"},
    )
    assert response.status_code == 200, response.text
    await stack.svc.wait_for_incident(incident_id, timeout=30)
    calls_before = len(stack.tools.calls)

    # An operator resets the incident to the workflow task that started its run.
    history = await temporal_client.get_workflow_handle(incident_id).fetch_history()
    started = next(e for e in history.events if e.HasField("start_child_workflow_execution_initiated_event_attributes"))
    task = started.start_child_workflow_execution_initiated_event_attributes.workflow_task_completed_event_id
    await temporal_client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=temporal_client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=incident_id),
            reason="test: reset to before the playbook run",
            workflow_task_finish_event_id=task,
            request_id=str(uuid.uuid4()),
        )
    )
    done = await stack.svc.wait_for_incident(incident_id, status="failed", timeout=30)
    assert done["error"] == (
        f"playbook respond-beacon not run: run playbook-{incident_id}-1 was started before (the incident was "
        "reset?); not started again"
    )
    assert len(stack.tools.calls) == calls_before  # nothing was contained twice
