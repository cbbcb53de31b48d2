"""Record golden histories of the workflows as they are now: `python -m tests.golden.record`.

Run it only when a workflow change is meant to be incompatible (and old executions are drained);
otherwise a failing replay test means the change needs `workflow.patched(...)`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.client import Client

from tests.support.stack import RedisServer, make_settings, service, start_dev_temporal
from xorb_orchestrator.infrastructure.webhook_sink import WebhookSink

HERE = Path(__file__).parent
ALERTS = {
    "incident_completed": {
        "id": "golden-1",
        "title": "Outbound C2 beacon",
        "severity": "high",
        "source": "golden",
        "rule": "c2-beacon",
        "observables": {"src_ip": "10.0.0.5", "dest_ip": "203.0.113.10"},
        "techniques": ["T1071.001"],
    },
}


async def _save(client: Client, incident_id: str, name: str) -> None:
    history = await client.get_workflow_handle(incident_id).fetch_history()
    (HERE / f"{name}.json").write_text(history.to_json())
    print(f"wrote {name}.json ({len(history.events)} events)")


async def main() -> None:
    env = await start_dev_temporal()
    redis = RedisServer(HERE)
    sink = WebhookSink().start()
    try:
        address = str(env.client.service_client.config.target_host)
        settings = make_settings(address, redis.url, XORB_NOTIFY_WEBHOOK_URLS=f"{sink.url},{sink.url}")
        async with service(settings) as svc:
            for name, alert in ALERTS.items():
                incident_id = await svc.send_alert(alert)
                await svc.wait_for_incident(incident_id)
                await asyncio.sleep(1)  # linger 0: let the workflow close
                await _save(env.client, incident_id, name)
    finally:
        sink.stop()
        redis.stop()
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
