"""Record golden histories of the incident workflows (part of `python -m tests.golden.record`).

Four alerts (distinct incidents) at once with MAX_PARALLEL_WORKFLOWS=2, so the response-slot coordinator queues
and grants several; written as `incident_completed.json` (the first incident, built-in notify plan) and
`response_slots.json` (the coordinator, closed by terminating it once the incidents are done).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client

from tests.support.stack import RedisServer, make_settings, service, start_dev_temporal
from xorb_orchestrator.devtools.webhook_sink import WebhookSink
from xorb_orchestrator.models.ids import slot_coordinator_id
from xorb_orchestrator.models.workflow_names import SLOT_GRANTED

HERE = Path(__file__).parent


def alert(n: int) -> dict[str, object]:
    return {
        "id": f"golden-{n}",
        "title": "Outbound C2 beacon",
        "severity": "high",
        "source": "golden",
        "rule": f"c2-beacon-{n}",
        "observables": {"src_ip": f"10.0.0.{n}", "dest_ip": "203.0.113.10"},
        "techniques": ["T1071.001"],
    }


async def _save(client: Client, workflow_id: str, name: str) -> None:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    (HERE / f"{name}.json").write_text(history.to_json())
    print(f"wrote {name}.json ({len(history.events)} events)")


async def _waited_for_a_slot(client: Client, workflow_id: str) -> bool:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return any(
        e.workflow_execution_signaled_event_attributes.signal_name == SLOT_GRANTED
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
    )


async def main(
    incident_name: str = "incident_completed",
    slots_name: str | None = "response_slots",
    queued_name: str | None = None,
) -> None:
    """`incident_name`: the file for the first incident (`incident_assessed` recorded the enrich-and-plan patch's
    path beside the older `incident_completed`); `slots_name` None leaves the coordinator's history out;
    `queued_name`: also save an incident that waited for its slot's grant signal."""
    env = await start_dev_temporal()
    redis = RedisServer(HERE)
    sink = WebhookSink().start()
    try:
        address = str(env.client.service_client.config.target_host)
        settings = make_settings(
            address, redis.url, XORB_NOTIFY_WEBHOOK_URLS=f"{sink.url},{sink.url}", MAX_PARALLEL_WORKFLOWS=2
        )
        async with service(settings) as svc:
            ids = await asyncio.gather(*(svc.send_alert(alert(n)) for n in range(1, 5)))
            for incident_id in ids:
                await svc.wait_for_incident(incident_id)
            await asyncio.sleep(1)  # linger 0: let the workflows close
            await _save(env.client, ids[0], incident_name)
            if queued_name is not None:
                queued = [i for i in ids if await _waited_for_a_slot(env.client, i)]
                assert queued, "no incident waited for a slot"
                await _save(env.client, queued[0], queued_name)
            coordinator = env.client.get_workflow_handle(slot_coordinator_id(settings.temporal_task_queue))
            await coordinator.terminate("golden history recorded")
            if slots_name is not None:
                await _save(env.client, coordinator.id, slots_name)
    finally:
        sink.stop()
        redis.stop()
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
