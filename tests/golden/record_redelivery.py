"""Record golden histories of the re-delivery memory (part of `python -m tests.golden.record`).

An incident answered on the new path (patch `redelivery-memory`: it asks earlier incidents of its key, and leaves
its fingerprints in a memo when it closes), then the same alert re-sent after the cache was flushed: the new run
holds only the duplicate and closes without answering. Written as `incident_remembering.json` and
`incident_redelivered.json`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis
from temporalio.client import Client

from tests.support.stack import RedisServer, make_settings, service, start_dev_temporal
from xorb_orchestrator.devtools.webhook_sink import WebhookSink

HERE = Path(__file__).parent
ALERT = {
    "id": "golden-redelivered",
    "title": "Outbound C2 beacon",
    "severity": "high",
    "source": "golden",
    "rule": "c2-beacon-redelivered",
    "observables": {"src_ip": "10.0.0.9", "dest_ip": "203.0.113.10"},
}


async def _save(client: Client, workflow_id: str, run_id: str, name: str) -> None:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    (HERE / f"{name}.json").write_text(history.to_json())
    print(f"wrote {name}.json ({len(history.events)} events)")


async def main() -> None:
    env = await start_dev_temporal()
    redis = RedisServer(HERE)
    sink = WebhookSink().start()
    try:
        address = str(env.client.service_client.config.target_host)
        settings = make_settings(address, redis.url, XORB_NOTIFY_WEBHOOK_URLS=sink.url)
        async with service(settings) as svc:
            incident_id = await svc.send_alert(ALERT)
            first_run = (await env.client.get_workflow_handle(incident_id).describe()).run_id
            await env.client.get_workflow_handle(incident_id).result()
            cache = aioredis.Redis.from_url(redis.url)
            await cache.flushall()
            await cache.aclose()
            await svc.send_alert(ALERT)
            second = await env.client.get_workflow_handle(incident_id).describe()
            await env.client.get_workflow_handle(incident_id, run_id=second.run_id).result()
            assert first_run and second.run_id and first_run != second.run_id
            await _save(env.client, incident_id, first_run, "incident_remembering")
            await _save(env.client, incident_id, second.run_id, "incident_redelivered")
    finally:
        sink.stop()
        redis.stop()
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
