"""Record golden histories of bundled playbook runs (part of `python -m tests.golden.record`).

Two real runs on the real stack, the tools played by the local ToolServer: contain-malicious-ip approved through
the API (it blocks), compromised-account denied through the API (the deny path). Each file is named after the
run's workflow id, which `tests/workflows/test_replay.py` uses when it replays them (the interpreter keys its actions by
it).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client

from tests.support.playbook_runs import incident
from tests.support.stack import RedisServer, start_dev_temporal
from tests.support.tool_servers import ToolStack, tool_stack
from xorb_orchestrator.models.playbook_run import PlaybookRunResult
from xorb_orchestrator.service import action_catalog
from xorb_orchestrator.services import playbook_runs

HERE = Path(__file__).parent
# (incident id, playbook, inputs besides the tool's URL, tool input, approval step, approve?)
Run = tuple[str, str, dict[str, str], str, str, bool]
RUNS: list[Run] = [
    ("incident-golden-ip", "contain-malicious-ip", {"ip": "203.0.113.7"}, "firewall_api", "approve-block", True),
    ("incident-golden-user", "compromised-account", {"user": "00u1abcd"}, "idp_api", "approve-suspend", False),
]


async def _record(client: Client, stack: ToolStack, run: Run) -> None:
    incident_id, playbook_id, inputs, tool_input, step, approve = run
    known = playbook_runs.catalog(stack.svc.settings, action_catalog())
    workflow_id = await playbook_runs.start_run(
        client,
        stack.svc.settings,
        action_catalog(),
        known[playbook_id].playbook,
        incident(incident_id),
        {**inputs, tool_input: stack.tools.url},
        1,
    )
    path = f"/v1/incidents/{incident_id}/approvals"
    await stack.svc.wait_for_approval(incident_id, timeout=10)
    response = await stack.svc.http.post(
        path,
        json={"step": step, "approve": approve, "comment": "golden"},
        headers={"X-Xorb-Approver": "golden", "X-Xorb-Roles": "soc-lead"},
    )
    assert response.status_code == 200, response.text
    handle = client.get_workflow_handle(workflow_id, result_type=PlaybookRunResult)
    result = await asyncio.wait_for(handle.result(), 30)
    assert result.status == "completed", result.error
    history = await handle.fetch_history()
    (HERE / f"{workflow_id}.json").write_text(history.to_json())
    print(f"wrote {workflow_id}.json ({len(history.events)} events, decisions {result.decisions()})")


async def main() -> None:
    env = await start_dev_temporal()
    redis = RedisServer(HERE)
    try:
        address = str(env.client.service_client.config.target_host)
        async with tool_stack(address, redis.url) as stack:
            for run in RUNS:
                await _record(env.client, stack, run)
    finally:
        redis.stop()
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
