"""Issue 12's containment ledger on the real service, with the bundled policy and playbook blocking a C2 address
through the OpenC2 actuator on a gateway namespace: `xorb containments list` shows the block with its receipt and
end; `extend` moves the end; `release` runs the undo now (the rule is deleted) and a second release is refused; an
undo that keeps failing (the actuator gone) ends `failed_undo` and tells the SOC channel."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.support.actuator import KEY_VARIABLE, Actuator, planned_actuator, running_actuator
from tests.support.intel import feeds_file, sync_feed
from tests.support.netns import namespace_pair
from tests.support.stack import API_KEY, RunningService, make_settings, service
from tests.support.tool_servers import PLAYBOOKS_DIR
from xorb_orchestrator.cli.main import app
from xorb_orchestrator.devtools.webhook_sink import WebhookSink

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
C2 = ["198.51.100.21", "198.51.100.22"]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Actuator]:
    with namespace_pair() as pair, running_actuator(planned_actuator(tmp_path), pair, tmp_path) as actuator:
        yield actuator


def beacon(address: str) -> dict[str, Any]:
    return {"title": f"Beacon to {address}", "severity": "high", "source": "ids", "rule": f"beacon-{address}",
            "observables": {"src_ip": "10.0.0.5", "dest_ip": address}, "techniques": ["T1071.001"]}  # fmt: skip


def _read_until(stream: IO[str], wanted: str) -> str:
    """What a process printed, line by line, up to the line holding `wanted` (or its end)."""
    seen = ""
    for line in stream:
        seen += line
        if wanted in line:
            break
    return seen


async def xorb(svc: RunningService, *args: str, ok: bool = True) -> str:
    connection = ["--api-url", svc.base_url, "--api-key", API_KEY]
    result = await asyncio.to_thread(CliRunner().invoke, app, [*args, *connection])
    assert (result.exit_code == 0) == ok, result.output
    return str(result.output)


async def test_a_containment_is_listed_extended_and_released_by_a_person(
    temporal_address: str, redis_server: Any, webhook_sink: WebhookSink, tmp_path: Path, gateway: Actuator
) -> None:
    connections = tmp_path / "connections.yaml"
    connections.write_text("connections:\n" + gateway.connection_yaml())
    settings = make_settings(
        temporal_address, redis_server.url, XORB_PLAYBOOKS_DIR=str(PLAYBOOKS_DIR),
        XORB_CONNECTORS_FILE=str(connections), XORB_TI_FEEDS_FILE=str(feeds_file(tmp_path, *C2)),
        XORB_NOTIFY_WEBHOOK_URLS=webhook_sink.url,
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_VARIABLE, gateway.key)
        async with service(settings) as svc:
            await sync_feed(svc.http)
            first = await svc.send_alert(beacon(C2[0]))
            view = await svc.wait_for_incident(first, timeout=60)
            workflow_id = view["containment"]["workflow_id"]
            [rule] = gateway.rules_for(C2[0])

            # The incidents as people and scripts see them, and a live watch that prints it.
            table = await xorb(svc, "incidents", "list", "--status", "closed")
            assert table.splitlines()[0].startswith("INCIDENT") and first in table and "contain-malicious-ip" in table
            assert first in [i["incident_id"] for i in json.loads(await xorb(svc, "incidents", "list", "--json"))]
            watcher = subprocess.Popen(
                [sys.executable, "-c", "from xorb_orchestrator.cli.main import main; main()", "incidents", "watch",
                 "--every", "0.5", "--api-url", svc.base_url, "--api-key", API_KEY],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert watcher.stdout is not None
            shown = await asyncio.wait_for(asyncio.to_thread(_read_until, watcher.stdout, first), timeout=60)
            watcher.send_signal(signal.SIGINT)  # Ctrl-C once it printed the incident (on a busy machine, seconds)
            out, err = await asyncio.to_thread(watcher.communicate, timeout=20)
            assert watcher.returncode == 0 and first in shown and "Traceback" not in err, (shown + out, err)

            listed = json.loads(await xorb(svc, "containments", "list", "--json"))["items"]
            [item] = [i for i in listed if i["workflow_id"] == workflow_id]
            assert item["status"] == "active" and item["incident_id"] == first
            assert [r["handle"] for r in item["effects"]] == [f"slpf:rule_number {rule}"]
            said = await xorb(svc, "containments", "list")
            assert f"{workflow_id}  active  until" in said and f"[slpf:rule_number {rule}] via openc2-slpf gw" in said

            extended = await xorb(svc, "containments", "extend", workflow_id, "--for", "2d", "--as", "dana")
            new_end = datetime.fromisoformat(extended.strip().rsplit("until ", 1)[1])
            assert timedelta(days=2) - timedelta(minutes=1) < new_end - datetime.now(UTC) <= timedelta(days=2)
            too_far = await xorb(svc, "containments", "extend", workflow_id, "--for", "40d", "--as", "dana", ok=False)
            assert "duration: at most 30d from now" in too_far

            released = await xorb(svc, "containments", "release", workflow_id, "-m", "false positive", "--as", "dana")
            assert f"{workflow_id}  released  at" in released and "by dana" in released
            assert "undo openc2.delete" in released and "(completed)" in released
            assert gateway.rules_for(C2[0]) == []
            again = await xorb(svc, "containments", "release", workflow_id, "--as", "dana", ok=False)
            assert "has already ended (released)" in again
            shown = json.loads(await xorb(svc, "containments", "show", workflow_id, "--json"))
            assert shown["extended"][0].endswith("dana: until " + new_end.strftime("%Y-%m-%d %H:%M") + "Z")

            # The actuator gone: the undo fails after its attempts, the containment says so, the SOC is told.
            second = await svc.send_alert(beacon(C2[1]))
            view = await svc.wait_for_incident(second, timeout=60)
            assert gateway.proc is not None
            gateway.proc.stop()
            failed = await xorb(svc, "containments", "release", view["containment"]["workflow_id"], "--as", "dana")
            for _ in range(60):
                shown = json.loads(
                    await xorb(svc, "containments", "show", view["containment"]["workflow_id"], "--json")
                )
                if shown["status"] != "active":
                    break
                await asyncio.sleep(1)
            assert shown["status"] == "failed_undo", (failed, shown)
            told = [b["text"] for b in webhook_sink.bodies() if "could NOT be undone" in b.get("text", "")]
            assert len(told) == 1 and second in told[0]
            scraped = (await svc.http.get("/metrics")).text
    ended = {line.split("{", 1)[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
             for line in scraped.splitlines() if line.startswith("xorb_containments_ended_total{")}  # fmt: skip
    assert ended['ended_by="release",outcome="released"'] >= 1
    assert ended['ended_by="release",outcome="failed_undo"'] >= 1
    assert "xorb_containments_open " in scraped


async def test_a_containment_is_extended_and_released_from_the_console(
    temporal_address: str, redis_server: Any, tmp_path: Path, gateway: Actuator
) -> None:
    """The same ledger in the console: dana (a person's key) extends the block and releases it with a click; the
    rule is deleted and the release is hers."""
    connections = tmp_path / "connections.yaml"
    connections.write_text("connections:\n" + gateway.connection_yaml())
    dana = "xk-dana-" + secrets.token_urlsafe(16)
    (tmp_path / "keys").write_text(f"{dana} dana soc-lead\n")
    settings = make_settings(
        temporal_address, redis_server.url, XORB_PLAYBOOKS_DIR=str(PLAYBOOKS_DIR),
        XORB_CONNECTORS_FILE=str(connections), XORB_TI_FEEDS_FILE=str(feeds_file(tmp_path, C2[0])),
        XORB_API_KEY_FILE=str(tmp_path / "keys"),
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(KEY_VARIABLE, gateway.key)
        async with service(settings) as svc:
            await sync_feed(svc.http)
            first = await svc.send_alert(beacon(C2[0]))
            workflow_id = (await svc.wait_for_incident(first, timeout=60))["containment"]["workflow_id"]
            assert len(gateway.rules_for(C2[0])) == 1
            async with httpx.AsyncClient(base_url=svc.base_url, headers={"Origin": svc.base_url}) as tab:
                form = await tab.get("/signin")
                token = re.search(r'name="token" value="([^"]+)"', form.text)
                assert token is not None
                await tab.post("/signin", data={"token": token.group(1), "key": dana, "next": "/containments"})
                page = (await tab.get("/containments")).text
                assert first in page and "Release now" in page and "slpf:rule_number" in page
                csrf = re.search(r'name="csrf" value="([^"]+)"', page)
                assert csrf is not None
                path = f"/containments/{workflow_id}"
                too_far = await tab.post(f"{path}/extend", data={"csrf": csrf.group(1), "duration": "40d"})
                assert "Not extended: at most 30d from now." in (await tab.get(too_far.headers["location"])).text
                extended = await tab.post(f"{path}/extend", data={"csrf": csrf.group(1), "duration": "2d"})
                assert "Extended until" in (await tab.get(extended.headers["location"])).text
                released = await tab.post(f"{path}/release", data={"csrf": csrf.group(1), "reason": "false positive"})
                assert "Released: " in (await tab.get(released.headers["location"])).text
                again = await tab.post(f"{path}/release", data={"csrf": csrf.group(1)})
                assert "Not released: " in (await tab.get(again.headers["location"])).text
            shown = (await svc.http.get(f"/v1/containments/{workflow_id}")).json()
            assert shown["status"] == "released" and shown["released_by"] == "dana"
            assert shown["extended"][0].split(": until")[0].endswith("dana")
            assert gateway.rules_for(C2[0]) == []
