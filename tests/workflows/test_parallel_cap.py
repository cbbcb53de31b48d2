"""MAX_PARALLEL_WORKFLOWS holds across worker processes; a waiting critical incident goes first."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client

from tests.support.blocking_sink import BlockingSink
from tests.support.processes import start_xorb, worker_env, xorb_processes
from tests.support.slots import wait_for_slots
from tests.support.stack import RunningService, make_settings, service
from xorb_orchestrator.activities.slots import CLAIMS_IN_FLIGHT, SlotActivities
from xorb_orchestrator.models.workflow_io import SlotRequest
from xorb_orchestrator.service import Roles

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(90)]


def alert(severity: str, rule: str) -> dict[str, object]:
    return {
        "title": f"Port scan ({rule})",
        "severity": severity,
        "source": "ids-1",
        "rule": rule,
        "observables": {"src_ip": "10.1.2.3"},
    }


async def wait_for_status(api: RunningService, incident_ids: list[str], status: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        views = [(await api.http.get(f"/v1/incidents/{i}")).json() for i in incident_ids]
        if all(v.get("status") == status for v in views):
            return
        assert time.monotonic() < deadline, f"expected all {status!r}: {[v.get('status') for v in views]}"
        await asyncio.sleep(0.1)


async def test_cap_holds_across_workers_and_critical_goes_first(
    temporal_address: str, redis_server, temporal_client: Client, tmp_path: Path
) -> None:
    sink = BlockingSink().start()
    settings = make_settings(
        temporal_address, redis_server.url, MAX_PARALLEL_WORKFLOWS=2, XORB_NOTIFY_WEBHOOK_URLS=sink.url
    )
    queue = settings.temporal_task_queue
    try:
        with xorb_processes() as workers:
            for n in (1, 2):
                workers.append(start_xorb(["worker"], worker_env(settings), tmp_path / f"worker-{n}.log"))
            async with service(settings, Roles(worker=False, api=True)) as api:
                first = [await api.send_alert(alert("low", f"scan-{n}")) for n in (1, 2)]
                assert len(set(first)) == 2
                executing = await sink.wait_for_keys(2)
                assert {k.partition("/")[0] for k in executing} == set(first)

                later_low = [await api.send_alert(alert("low", f"scan-{n}")) for n in (3, 4)]
                critical = await api.send_alert(alert("critical", "scan-critical"))
                waiting = [*later_low, critical]
                await wait_for_status(api, waiting, "waiting")
                peak = await wait_for_slots(temporal_client, queue, holders=2, waiting=3)
                assert set(peak.holders) == set(first)
                assert {w.incident_id for w in peak.waiting} == set(waiting)
                assert peak.limit == 2
                assert sink.in_flight() == set(executing)

                # Free one slot at a time: each release lets exactly one more incident start.
                for released in range(5):
                    sink.release(sink.keys()[released])
                    if released + 2 < 5:
                        keys = await sink.wait_for_keys(released + 3)
                        assert len(sink.in_flight()) <= 2
                        if released == 0:
                            assert keys[2] == f"{critical}/notify-1", "the critical incident was not next"
                everyone = first + waiting
                for incident_id in everyone:
                    await api.wait_for_incident(incident_id)
                await wait_for_slots(temporal_client, queue, holders=0, waiting=0)
    finally:
        sink.stop()

    assert sink.max_in_flight == 2
    assert sorted(sink.keys()) == sorted(f"{i}/notify-1" for i in everyone)


async def test_a_claim_is_answered_at_once_granted_or_queued(
    temporal_address: str, redis_server, temporal_client: Client
) -> None:
    """slots.claim (the slot-claim patch): a free slot is the claimant's in the Update's answer, so no grant
    signal and no extra workflow task; a full cap queues it (False: the grant signal follows); asking again as
    a holder is still True; and with the worker's claims all in flight it asks by signal instead."""
    settings = make_settings(temporal_address, redis_server.url, MAX_PARALLEL_WORKFLOWS=1)
    async with service(settings, Roles(worker=True, api=False)):
        slots = SlotActivities(temporal_client, settings)

        def ask(incident_id: str) -> SlotRequest:
            return SlotRequest(incident_id=incident_id, severity_id=4, requested_at=datetime.now(UTC))

        assert await slots.claim_slot(ask("incident-a")) is True
        assert await slots.claim_slot(ask("incident-b")) is False
        assert await slots.claim_slot(ask("incident-a")) is True  # a retried activity: still the holder
        state = await wait_for_slots(temporal_client, settings.temporal_task_queue, holders=1, waiting=1)
        assert state.holders == ["incident-a"] and [w.incident_id for w in state.waiting] == ["incident-b"]
        for _ in range(CLAIMS_IN_FLIGHT):
            await slots._claims.acquire()  # every claim of this worker in flight
        assert await slots.claim_slot(ask("incident-c")) is False
        await wait_for_slots(temporal_client, settings.temporal_task_queue, holders=1, waiting=2)
