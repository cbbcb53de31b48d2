"""Issue 12's guardrail acceptance on the real service (API + worker, and a second `xorb worker` process on the
same deployment), the bundled policy and playbooks, a TI feed, and the edge firewall an OpenC2 actuator on a
gateway network namespace:

- a flood of 100 incidents that each want to block an address, under a budget of 20 blocks an hour: exactly 20
  blocks, 80 approval requests, across two workers (the budget is held in Temporal, not in a process);
- `xorb autonomy pause` holds the next block (it waits for a person); `--rollback` releases every open
  containment (the actuator's rules are deleted); `resume` lets blocks start again.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from typer.testing import CliRunner

from tests.support.actuator import KEY_VARIABLE, Actuator, planned_actuator, running_actuator
from tests.support.intel import feeds_file, sync_feed
from tests.support.netns import namespace_pair
from tests.support.processes import start_xorb, worker_env, xorb_processes
from tests.support.stack import API_KEY, RunningService, make_settings, service
from tests.support.tool_servers import PLAYBOOKS_DIR
from xorb_orchestrator.cli.main import app
from xorb_orchestrator.models.containment import ContainmentSummary

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]
FLOOD = [f"198.51.100.{n}" for n in range(1, 101)]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Actuator]:
    with namespace_pair() as pair, running_actuator(planned_actuator(tmp_path), pair, tmp_path) as actuator:
        yield actuator


def beacon(n: int, address: str) -> dict[str, Any]:
    return {
        "title": f"Beacon to {address}",
        "severity": "high",
        "source": "ids-flood",
        "rule": f"c2-beacon-{n}",
        "observables": {"src_ip": "10.0.0.5", "dest_ip": address},
        "techniques": ["T1071.001"],
    }


async def held_blocks(svc: RunningService) -> list[dict[str, Any]]:
    items = (await svc.http.get("/v1/approvals", timeout=30)).json()["items"]
    return [item for item in items if item["step_id"] == "block-ip"]


async def until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:g}s"
        await asyncio.sleep(0.5)


async def xorb(svc: RunningService, *args: str) -> str:
    connection = ["--api-url", svc.base_url, "--api-key", API_KEY]
    result = await asyncio.to_thread(CliRunner().invoke, app, [*args, *connection])
    assert result.exit_code == 0, result.output
    return str(result.output)


async def test_a_flood_of_blocks_stops_at_the_budget_and_the_rest_wait_for_people(
    temporal_address: str, redis_server: Any, tmp_path: Path, gateway: Actuator
) -> None:
    connections = tmp_path / "connections.yaml"
    connections.write_text("connections:\n" + gateway.connection_yaml())
    feeds = str(feeds_file(tmp_path, *FLOOD))
    shared = {"XORB_PLAYBOOKS_DIR": str(PLAYBOOKS_DIR), "XORB_CONNECTORS_FILE": str(connections),
              "XORB_TI_FEEDS_FILE": feeds, "XORB_BUDGETS": "block=20/1h"}  # fmt: skip
    settings = make_settings(temporal_address, redis_server.url, MAX_PARALLEL_WORKFLOWS=200, **shared)
    env = worker_env(settings, **shared, **{KEY_VARIABLE: gateway.key})
    with pytest.MonkeyPatch.context() as patch, xorb_processes() as workers:
        patch.setenv(KEY_VARIABLE, gateway.key)
        workers.append(start_xorb(["worker"], env, tmp_path / "worker-2.log"))
        async with service(settings) as svc:
            await sync_feed(svc.http)
            await asyncio.gather(*(svc.send_alert(beacon(n, address)) for n, address in enumerate(FLOOD)))

            async def settled() -> list[dict[str, Any]] | None:
                held = await held_blocks(svc)
                return held if len(held) == 80 and len(gateway.rules()) == 20 else None

            held = await until(settled, 180, "20 blocks and 80 held")
            await asyncio.sleep(2)  # and nothing more gets through
            assert len(gateway.rules()) == 20 and len(await held_blocks(svc)) == 80
            status = await xorb(svc, "autonomy", "status")
            assert workers[0].proc.poll() is None, workers[0].output()[-2000:]  # two workers all along
    blocked = {rule["command"]["target"]["ipv4_net"].removesuffix("/32") for rule in gateway.rules()}
    assert len(blocked) == 20 and blocked <= set(FLOOD)
    assert all("over budget: 20 of 20 block effects per 1h already made" in item["message"] for item in held)
    assert {item["approvers"]["roles"][0] for item in held} == {"soc-lead"}
    waiting = {item["requests"][0]["args"]["address"] for item in held}
    assert len(waiting) == 80 and not waiting & blocked  # each held block is shown as it would be sent
    assert "autonomy on" in status and "budget block: 20 of 20 in the window" in status


async def test_the_kill_switch_holds_new_blocks_and_rolls_back_open_containments(
    temporal_address: str, temporal_client: Client, redis_server: Any, tmp_path: Path, gateway: Actuator
) -> None:
    connections = tmp_path / "connections.yaml"
    connections.write_text("connections:\n" + gateway.connection_yaml())
    feeds = str(feeds_file(tmp_path, *FLOOD[:3]))
    settings = make_settings(
        temporal_address, redis_server.url, XORB_PLAYBOOKS_DIR=str(PLAYBOOKS_DIR),
        XORB_CONNECTORS_FILE=str(connections), XORB_TI_FEEDS_FILE=feeds,
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_VARIABLE, gateway.key)
        async with service(settings) as svc:
            await sync_feed(svc.http)
            first = await svc.send_alert(beacon(0, FLOOD[0]))
            view = await svc.wait_for_incident(first, timeout=60)
            assert view["containment"]["status"] == "active" and len(gateway.rules()) == 1
            paused = await xorb(svc, "autonomy", "pause", "--reason", "drill", "--as", "dana")
            assert "autonomy PAUSED by dana" in paused and ": drill" in paused
            started = time.monotonic()
            second = await svc.send_alert(beacon(1, FLOOD[1]))
            waiting = await svc.wait_for_approval(second, timeout=30)
            assert waiting["step_id"] == "block-ip" and "autonomy is paused by dana" in waiting["message"]
            assert time.monotonic() - started < 30 and len(gateway.rules()) == 1  # held, not sent
            rolled = await xorb(svc, "autonomy", "pause", "--rollback", "--as", "dana")
            assert "released 1 open containment(s)" in rolled
            await until(lambda: asyncio.sleep(0, result=not gateway.rules()), 30, "the rollback's undo")
            containment = view["containment"]["workflow_id"]
            handle = temporal_client.get_workflow_handle(containment, result_type=ContainmentSummary)
            released = await asyncio.wait_for(handle.result(), 30)
            assert (released.status, released.released_by) == ("released", "dana")
            assert [u.status for u in released.undo] == ["completed"]
            resumed = await xorb(svc, "autonomy", "resume", "--as", "carol", "--role", "soc-lead")
            assert "autonomy on (resumed by carol" in resumed
            third = await svc.send_alert(beacon(2, FLOOD[2]))
            await svc.wait_for_incident(third, timeout=60)
            assert any(FLOOD[2] in str(rule["command"]["target"]) for rule in gateway.rules())
    # Every decision and effect is in the audit log, in order, and the chain holds.
    env = {"REDIS_URL": redis_server.url}
    verified = await asyncio.to_thread(CliRunner().invoke, app, ["audit", "verify"], env=env)
    assert verified.exit_code == 0 and verified.output.startswith("audit chain verified: "), verified.output
    exported = await asyncio.to_thread(CliRunner().invoke, app, ["audit", "export", "--since", "10m"], env=env)
    entries = [json.loads(line) for line in exported.output.splitlines() if line.startswith("{")]
    mine = [
        (e["kind"], e["actor"])
        for e in entries
        if e["incident_id"] in (first, second, third) or e["kind"] == "autonomy"
    ]
    assert ("plan", "policy") in mine and ("effect", "autonomous") in mine  # the first block, on its own
    assert ("guardrail", "autonomous") in mine  # the second block held: autonomy paused
    assert ("autonomy", "dana") in mine and ("autonomy", "carol") in mine  # paused (twice), resumed
    assert ("effect", "undo") in mine  # the rollback's undo: the rule deleted
    held = next(e for e in entries if e["kind"] == "guardrail" and e["incident_id"] == second)
    assert held["detail"]["outcome"] == "hold" and held["detail"]["rule"] == "paused"
