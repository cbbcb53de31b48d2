"""Record the golden histories of an incident answered by a playbook (part of `python -m tests.golden.record`).

A C2 alert (T1071.001) on the real stack with contain-malicious-ip's firewall configured: the incident's plan
pins that playbook, runs it as its child, and the approval comes through the API. Both histories are written,
the incident's and its child run's, each named after its workflow id (test_replay.py replays every file here).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from temporalio.client import Client

from tests.support.stack import RedisServer, start_dev_temporal
from tests.support.tool_servers import ToolServer, ToolStack, tool_stack

HERE = Path(__file__).parent
ALERT = {
    "id": "golden-playbook-1",
    "title": "Outbound C2 beacon",
    "severity": "high",
    "source": "golden",
    "rule": "c2-beacon-playbook",
    "observables": {"src_ip": "203.0.113.7", "dest_ip": "10.0.0.5"},
    "techniques": ["T1071.001"],
}


def _inputs(tools: ToolServer) -> dict[str, object]:
    return {"XORB_PLAYBOOK_INPUTS": json.dumps({"contain-malicious-ip": {"firewall_api": tools.url}})}


async def _record(client: Client, stack: ToolStack) -> None:
    incident_id = await stack.svc.send_alert(ALERT)
    await stack.svc.wait_for_approval(incident_id)
    response = await stack.svc.http.post(
        f"/v1/incidents/{incident_id}/approvals",
        json={"step": "approve-block", "approve": True, "comment": "golden"},
        headers={"X-Xorb-Approver": "golden", "X-Xorb-Roles": "soc-lead"},
    )
    assert response.status_code == 200, response.text
    view = await stack.svc.wait_for_incident(incident_id)
    await asyncio.sleep(1)  # linger 0: let the incident close
    for workflow_id in (incident_id, view["playbook_run"]["workflow_id"]):
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        (HERE / f"{workflow_id}.json").write_text(history.to_json())
        print(f"wrote {workflow_id}.json ({len(history.events)} events)")


async def main() -> None:
    env = await start_dev_temporal()
    redis = RedisServer(HERE)
    try:
        address = str(env.client.service_client.config.target_host)
        async with tool_stack(address, redis.url, _inputs) as stack:
            await _record(env.client, stack)
    finally:
        redis.stop()
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
