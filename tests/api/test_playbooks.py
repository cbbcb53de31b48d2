"""The playbook and approval API on the real stack: listing, validation, dry-run, deciding approvals (and
`xorb incidents approve|deny`), and every error case with the sentence the caller gets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from typer.testing import CliRunner

from tests.support.playbook_runs import incident, playbook
from tests.support.stack import API_KEY, RedisServer
from tests.support.tool_servers import PLAYBOOKS_DIR, ToolStack, tool_stack
from xorb_orchestrator.cli.incidents import incidents_app
from xorb_orchestrator.playbook.catalog import load_catalog
from xorb_orchestrator.service import action_catalog
from xorb_orchestrator.services import playbook_runs

pytestmark = pytest.mark.timeout(90)  # async tests run on the session loop (pyproject)
ALERT = {"title": "Beacon", "severity": "critical", "source": "test", "observables": {"src_ip": "203.0.113.7"}}
INLINE = {
    "id": "inline",
    "name": "Inline",
    "version": "1",
    "inputs": {"ip": {"type": "string", "required": True}},
    "steps": [
        {"id": "note", "action": "data.set", "args": {"ip": "${{ inputs.ip }}", "sev": "${{ incident.severity }}"}},
        {
            "id": "by-severity",
            "switch": "incident.severity",
            "cases": {
                "critical": [{"id": "page", "action": "notify.webhook", "args": {"text": "PAGE ${{ inputs.ip }}"}}]
            },
            "default": [{"id": "later", "wait": {"delay": "1h"}}],
        },
    ],
}
TWO_PEOPLE = playbook(
    """
id: two-people
name: Two people must approve
version: "1"
steps:
  - id: go-ahead
    approval: {approvers: {roles: [soc-lead], people: [erin]}, required: 2, timeout: 10m}
  - {id: done, action: data.set, args: {ok: true}}
"""
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(temporal_address: str, redis_server: RedisServer) -> AsyncIterator[ToolStack]:
    async with tool_stack(temporal_address, redis_server.url) as running:
        yield running


ROUTES = [
    ("GET", "/v1/playbooks"),
    ("POST", "/v1/playbooks/validate"),
    ("POST", "/v1/playbooks/dry-run"),
    ("GET", "/v1/approvals"),
    ("POST", "/v1/incidents/incident-x/approvals"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_requires_the_api_key(stack: ToolStack, method: str, path: str) -> None:
    response = await stack.svc.http.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"


async def test_list_playbooks(stack: ToolStack) -> None:
    items = (await stack.svc.http.get("/v1/playbooks")).json()["items"]
    known = load_catalog(PLAYBOOKS_DIR, action_catalog().flags())
    assert [i["id"] for i in items] == sorted(known)
    first = items[0]
    assert set(first) == {"id", "name", "version", "description", "tags", "sha256", "file"}
    assert first["sha256"] == known[first["id"]].sha256 and first["file"] == f"{first['id']}.yaml"


async def test_validate(stack: ToolStack) -> None:
    post = stack.svc.http.post
    assert (await post("/v1/playbooks/validate", json=INLINE)).json() == {"valid": True, "errors": []}
    broken = {**INLINE, "steps": [{"id": "note", "action": "data.set", "args": {"ip": "${{ inputs.ipp }}"}}]}
    answer = (await post("/v1/playbooks/validate", json=broken)).json()
    assert answer == {"valid": False, "errors": ["step 'note' field 'args.ip': unknown input 'ipp' (declared: ip)"]}
    typo = {**INLINE, "steps": [{"id": "x", "action": "firewall.block"}]}
    [typo_error] = (await post("/v1/playbooks/validate", json=typo)).json()["errors"]
    assert typo_error.startswith("step 'x' field 'action': unknown action 'firewall.block' (actions of ")
    assert "nftables" in typo_error and typo_error.endswith(": xorb actions list shows them all)")
    yaml_text = (PLAYBOOKS_DIR / "contain-malicious-ip.yaml").read_bytes()
    response = await post("/v1/playbooks/validate", content=yaml_text, headers={"Content-Type": "application/yaml"})
    assert response.json() == {"valid": True, "errors": []}
    not_object = (await post("/v1/playbooks/validate", json=[1])).json()
    assert not_object["valid"] is False and "expected a playbook object" in not_object["errors"][0]
    bad_json = await post("/v1/playbooks/validate", content=b"{", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["error"] == "malformed_json"


async def test_dry_run_of_an_inline_playbook_reports_branches_and_args(stack: ToolStack) -> None:
    body = {"playbook": INLINE, "alert": ALERT, "inputs": {}}  # `ip` is not given: taken from the alert
    response = await stack.svc.http.post("/v1/playbooks/dry-run", json=body)
    assert response.status_code == 200, response.text
    report = response.json()
    note, _switch, page = report["steps"]
    assert note["result"] == {"ip": "203.0.113.7", "sev": "critical"} and not note["simulated"]  # not mutating: ran
    assert report["decisions"] == [{"step": "by-severity", "decision": "critical"}]
    assert page["simulated"] and page["args"] == {"text": "PAGE 203.0.113.7"}
    assert stack.sink.bodies() == [] and stack.tools.calls == []


LOOKS_UP = playbook(
    """
id: looks-up
name: Looks up a host nobody allowed
version: "1"
inputs: {ip: {type: string, required: true}}
steps:
  - id: lookup
    action: http.request
    args: {method: GET, url: "http://ti.not-allowed.example/v1/ip/${{ inputs.ip }}"}
  - id: bad
    if: "steps.lookup.result.body.score > 80"
    then: [{id: block, action: http.request, args: {method: POST, url: "http://fw.not-allowed.example/block"}}]
    else: [{id: tell, action: notify.webhook, args: {text: "not blocked"}}]
  - id: escalate
    when: "steps.lookup.result.body.score > 95"
    action: notify.webhook
    args: {text: "page"}
"""
)


async def test_a_dry_run_that_cannot_look_up_goes_on_with_warnings_and_calls_nothing(stack: ToolStack) -> None:
    body = {"playbook": LOOKS_UP.model_dump(mode="json", by_alias=True, exclude_none=True), "alert": ALERT}
    response = await stack.svc.http.post("/v1/playbooks/dry-run", json=body)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["status"] == "completed"
    steps = {step["id"]: step for step in report["steps"]}
    assert list(steps) == ["lookup", "bad", "tell", "escalate"]
    assert steps["lookup"]["simulated"] and steps["lookup"]["result"]["warning"] == (
        "not called: http.request: host 'ti.not-allowed.example' is not in XORB_HTTP_ALLOWED_HOSTS "
        "(127.0.0.1, tip.test.local, fw.test.local:8443, tickets.test.local); a real run would fail here"
    )
    assert steps["bad"]["decision"] == "else"
    assert steps["bad"]["result"]["warning"].startswith("dry run: could not evaluate the choice (")
    assert steps["bad"]["result"]["warning"].endswith("); took the else branch")
    assert steps["escalate"]["status"] == "skipped"
    assert steps["escalate"]["result"]["warning"].startswith("dry run: could not evaluate `when` (")
    assert stack.sink.bodies() == [] and stack.tools.calls == []


async def expect(response: Any, status: int, error: str, text: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and text in body["message"], body
    return body


async def test_dry_run_errors(stack: ToolStack) -> None:
    post = stack.svc.http.post
    await expect(await post("/v1/playbooks/dry-run", json={"playbook": "nope", "alert": ALERT}), 404,
                 "unknown_playbook", "no playbook 'nope' in the catalog (known: block-phishing-url, ")  # fmt: skip
    broken = {**INLINE, "steps": [{"id": "note", "action": "data.set", "args": {"ip": "${{ inputs.ipp }}"}}]}
    body = await expect(await post("/v1/playbooks/dry-run", json={"playbook": broken, "alert": ALERT}), 422,
                        "invalid_playbook", "invalid: step 'note' field 'args.ip': unknown input")  # fmt: skip
    assert len(body["errors"]) == 1
    body = await expect(await post("/v1/playbooks/dry-run", json={"playbook": INLINE, "alert": {"severity": "high"}}),
                        422, "invalid_alert", "alert.title")  # fmt: skip
    no_ip = {**ALERT, "observables": {}}
    await expect(await post("/v1/playbooks/dry-run", json={"playbook": INLINE, "alert": no_ip}), 422,
                 "invalid_inputs", "missing required input 'ip'")  # fmt: skip
    await expect(await post("/v1/playbooks/dry-run", json={"playbook": INLINE, "alert": ALERT, "inputs": {"x": 1}}),
                 422, "invalid_inputs", "unknown input 'x' (declared: ip)")  # fmt: skip
    await expect(await post("/v1/playbooks/dry-run", json={"playbook": INLINE}), 422, "invalid_request", "body:")
    await expect(await post("/v1/playbooks/dry-run", json={"playbook": INLINE, "alert": ALERT, "input": {}}), 422,
                 "invalid_request", "input: unknown field")  # fmt: skip
    await expect(await post("/v1/playbooks/dry-run", json={"playbook": INLINE, "alert": ALERT, "inputs": [1]}), 422,
                 "invalid_request", "inputs: expected an object")  # fmt: skip
    assert stack.tools.calls == []  # nothing reached a tool


async def start(stack: ToolStack, client: Client) -> str:
    view = incident()
    await playbook_runs.start_run(client, stack.svc.settings, action_catalog(), TWO_PEOPLE, view, {}, 1)
    await stack.svc.wait_for_approval(view.incident_id, timeout=10)
    return view.incident_id


def approve(stack: ToolStack, incident_id: str, who: str | None, roles: str = "", **body: Any) -> Any:
    headers = {"X-Xorb-Roles": roles} | ({"X-Xorb-Approver": who} if who is not None else {})
    payload = {"step": "go-ahead", "approve": True} | body
    return stack.svc.http.post(f"/v1/incidents/{incident_id}/approvals", json=payload, headers=headers)


async def test_approval_errors_name_why(stack: ToolStack, temporal_client: Client) -> None:
    incident_id = await start(stack, temporal_client)
    await expect(await approve(stack, incident_id, None), 422, "missing_approver", "X-Xorb-Approver")
    await expect(await approve(stack, incident_id, "mallory", "analyst"), 403, "not_allowed",
                 "mallory may not decide step 'go-ahead' (allowed: role soc-lead, erin)")  # fmt: skip
    await expect(await approve(stack, incident_id, "carol", "soc-lead", step="nope"), 409, "not_waiting",
                 f"step 'nope' of incident {incident_id} is not waiting for an approval (waiting: go-ahead)"
                 )  # fmt: skip
    await expect(await approve(stack, "incident-none", "carol", "soc-lead"), 409, "not_waiting", "(waiting: none)")
    await expect(await approve(stack, "bad'id", "carol"), 404, "not_found")
    bad = await stack.svc.http.post(f"/v1/incidents/{incident_id}/approvals", json={"step": "go-ahead"},
                                    headers={"X-Xorb-Approver": "carol"})  # fmt: skip
    await expect(bad, 422, "invalid_request", "approve")
    first = await approve(stack, incident_id, "carol", "soc-lead", comment="looks right")
    assert first.status_code == 200 and (first.json()["outcome"], first.json()["approvals"]) == ("pending", 1)
    await expect(await approve(stack, incident_id, "carol", "soc-lead"), 409, "approval_refused",
                 "carol has already decided step 'go-ahead': one person counts once")  # fmt: skip
    # The CLI: erin is named in `people`, so no role is needed; then the step no longer waits.
    cli = ["--api-url", stack.svc.base_url, "--api-key", API_KEY]
    result = await asyncio.to_thread(
        CliRunner().invoke, incidents_app, ["approve", incident_id, "go-ahead", "--as", "erin", "-m", "ok", *cli]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"erin approved step 'go-ahead' of {incident_id}: approved (2 of 2 approvals)"
    result = await asyncio.to_thread(
        CliRunner().invoke, incidents_app, ["deny", incident_id, "go-ahead", "--as", "bob", "--role", "soc-lead", *cli]
    )
    assert result.exit_code == 1
    assert f"xorb: error: step 'go-ahead' of incident {incident_id} is not waiting" in result.output


async def test_cli_reports_an_unreachable_api() -> None:
    args = ["approve", "incident-x", "s", "--as", "a", "--api-url", "http://127.0.0.1:9", "--api-key", "k"]
    result = await asyncio.to_thread(CliRunner().invoke, incidents_app, args)
    assert result.exit_code == 1 and "cannot reach the API at http://127.0.0.1:9" in result.output
