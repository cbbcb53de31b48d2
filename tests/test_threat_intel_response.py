"""Issue 10's acceptance, end to end on the real service (Temporal dev server, Redis, worker + API), the bundled
playbooks and policy, feeds served over HTTP as abuse.ch and MISP serve them, and the edge firewall an OpenC2
actuator (`xorb actuator slpf`) on a gateway network namespace:

- the README's outbound-beacon alert with its C2 address in a feed: the plan targets the C2 address, never the
  internal workstation, says why, and the block goes out on its own (autonomy auto, approval granted by policy);
- the C2 address on a known-good list: nothing acts, and the plan says why;
- the internal host marked protected: nothing touches it;
- a block ends when the indicator's validity ends (the containment's durable timer undoes it).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.support.actuator import KEY_VARIABLE, Actuator, planned_actuator, running_actuator
from tests.support.netns import namespace_pair
from tests.support.stack import API_KEY, RedisServer
from tests.support.tool_servers import ToolStack, tool_stack
from xorb_orchestrator.cli.main import app

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]

C2, WORKSTATION = "203.0.113.10", "10.0.0.5"
BEACON = {
    "id": "evt-42",
    "title": "Outbound C2 beacon",
    "severity": "high",
    "source": "suricata-edge",
    "rule": "ET MALWARE beacon",
    "observables": {"src_ip": WORKSTATION, "dest_ip": C2, "domain": "c2.example"},
    "techniques": ["T1071.001"],
}


@contextmanager
def feed_server(files: dict[str, Callable[[], str]]) -> Iterator[str]:
    """Serve `files` (path -> current text) over HTTP, as a feed publisher would; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            make = files.get(self.path)
            if make is None:
                self.send_error(404)
                return
            body = make().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain" if self.path.endswith(".csv") else "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def c2_blocklist(valid_for: timedelta | None = None) -> str:
    """A Feodo-Tracker-style CSV listing the C2 server, seen an hour ago."""
    seen = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    until = (datetime.now(UTC) + valid_for).strftime("%Y-%m-%d %H:%M:%S") if valid_for else ""
    return (
        "# Feodo Tracker style botnet C2 list\n"
        "first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware,valid_until\n"
        f"{seen},{C2},443,online,{seen},QakBot,{until}\n"
    )


def warninglist(*values: str) -> str:
    return json.dumps({"name": "Our partners", "type": "cidr", "version": 1, "description": "", "list": list(values)})


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Actuator]:
    """The edge firewall: an SLPF actuator on a gateway namespace (skips where namespaces are unavailable)."""
    with namespace_pair() as pair, running_actuator(planned_actuator(tmp_path), pair, tmp_path) as actuator:
        yield actuator


@asynccontextmanager
async def responder(
    temporal_address: str,
    redis: RedisServer,
    tmp_path: Path,
    feeds: str,
    gateway: Actuator,
    assets: str | None = None,
) -> AsyncIterator[ToolStack]:
    feeds_file = tmp_path / "feeds.yaml"
    feeds_file.write_text(feeds)
    connections = tmp_path / "connections.yaml"
    connections.write_text("connections:\n" + gateway.connection_yaml())
    values: dict[str, object] = {"XORB_TI_FEEDS_FILE": str(feeds_file), "XORB_CONNECTORS_FILE": str(connections)}
    if assets is not None:
        (tmp_path / "assets.yaml").write_text(assets)
        values["XORB_ASSETS_FILE"] = str(tmp_path / "assets.yaml")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEY_VARIABLE, gateway.key)  # the connection's key reference resolves to it
        async with tool_stack(temporal_address, redis.url, lambda _: values) as stack:
            yield stack


async def sync(stack: ToolStack, feed: str) -> dict[str, Any]:
    response = await stack.svc.http.post(f"/v1/ti/feeds/{feed}/sync", params={"wait": 60}, timeout=90)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def xorb(stack: ToolStack, *args: str) -> str:
    """Run the CLI against the service (in a thread: the service shares this event loop)."""
    connection = ["--api-url", stack.svc.base_url, "--api-key", API_KEY]
    result = await asyncio.to_thread(CliRunner().invoke, app, [*args, *connection])
    assert result.exit_code == 0, result.output
    return str(result.output)


def feeds_yaml(url: str, *, known_good: bool = False) -> str:
    text = f"""
feeds:
  - name: c2-list
    type: csv
    url: {url}/c2.csv
    kind: ipv4
    columns:
      {{value: dst_ip, first_seen: first_seen_utc, last_seen: last_online, tags: malware, valid_until: valid_until}}
    score: 90
    confidence: 90
"""
    if known_good:
        text += f"""
  - name: partners
    type: known-good
    url: {url}/partners.json
"""
    return text


async def test_the_beacon_is_answered_on_the_c2_address_never_the_workstation(
    temporal_address: str, redis_server: RedisServer, tmp_path: Path, gateway: Actuator
) -> None:
    with feed_server({"/c2.csv": c2_blocklist}) as url:
        async with responder(temporal_address, redis_server, tmp_path, feeds_yaml(url), gateway) as stack:
            counts = (await sync(stack, "c2-list"))["counts"]
            assert counts["added"] == 1, counts
            incident_id = await stack.svc.send_alert(BEACON)
            view = await stack.svc.wait_for_incident(incident_id, timeout=60)
            (tmp_path / "beacon.json").write_text(json.dumps({**BEACON, "id": "evt-explain"}))
            said = {
                name: await xorb(stack, *args)
                for name, args in {
                    "lookup": ["ti", "lookup", C2, "--json"],
                    "feeds": ["ti", "feeds"],
                    "show": ["incidents", "show", incident_id],
                    "explain": ["plan", "explain", "--alert", str(tmp_path / "beacon.json")],
                }.items()
            }

    decision = view["plan"]["decision"]
    assert (decision["rule"], decision["autonomy"], decision["playbook"]) == (
        "contain-confident-external",
        "auto",
        "contain-malicious-ip",
    )
    assert [t["value"] for t in decision["targets"]] == [C2]
    [evidence] = decision["targets"][0]["evidence"]
    assert (evidence["source"], evidence["score"], evidence["live"]) == ("c2-list", 90, True)
    assert evidence["age_days"] < 1
    assert "c2-list" in decision["summary"] and C2 in decision["summary"]
    passed = {p["value"]: p["exclusion"] for p in decision["observables_passed_over"]}
    assert passed.get(WORKSTATION) in ("ours", "no_live_verdict", "condition"), passed
    # The block went to the C2 address, on its own, and nothing touched the workstation.
    assert view["plan"]["inputs"]["ip"] == C2
    [rule] = gateway.rules_for(C2)
    assert gateway.rules_for(WORKSTATION) == []
    # The incident lists the effect with its receipt: the actuator's rule number, its end, and its undo.
    [effect] = view["effects"]
    assert effect["step_id"] == "block-ip" and effect["receipt"]["handle"] == f"slpf:rule_number {rule}"
    assert effect["receipt"]["undo"] == {"action": "openc2.delete", "args": {"rule_number": rule, "connection": "gw"}}
    approval = next(s for s in view["playbook_run"]["steps"] if s["id"] == "approve-block")
    assert [v["via"] for v in approval["votes"]] == ["policy"]
    # Enrichment shows, per observable, whose it is and what the feeds say.
    facts = {o["value"]: o for o in view["enrichment"]["observables"]}
    assert facts[C2]["asset"]["scope"] == "external" and facts[C2]["verdict"]["hit"] is True
    assert facts[WORKSTATION]["asset"]["scope"] == "internal"
    # The CLI says the same: the lookup with every source, the feed's state, the incident's and a dry plan's why.
    lookup = json.loads(said["lookup"])
    assert lookup["hit"] is True and [f["verdict"]["source"] for f in lookup["sources"]] == ["c2-list"]
    assert "c2-list" in said["feeds"] and " ok " in said["feeds"] and "1 indicators" in said["feeds"]
    assert f"target ip {C2} (dest), external" in said["show"] and "c2-list: score 90" in said["show"]
    assert f"ip {WORKSTATION} (src): internal; not looked up" not in said["show"]
    effect_line = f"effect block-ip: deny {C2}/32 for 1d (rule {rule}) [slpf:rule_number {rule}] via openc2-slpf gw"
    assert effect_line in said["show"] and "undo openc2.delete (pending)" in said["show"]
    assert "rule: contain-confident-external" in said["explain"] and f"target ip {C2}" in said["explain"]


async def test_a_known_good_address_is_never_blocked_and_the_plan_says_why(
    temporal_address: str, redis_server: RedisServer, tmp_path: Path, gateway: Actuator
) -> None:
    files = {"/c2.csv": c2_blocklist, "/partners.json": lambda: warninglist("203.0.113.0/24")}
    with feed_server(files) as url:
        async with responder(
            temporal_address, redis_server, tmp_path, feeds_yaml(url, known_good=True), gateway
        ) as stack:
            await sync(stack, "c2-list")
            await sync(stack, "partners")
            incident_id = await stack.svc.send_alert({**BEACON, "id": "evt-43"})
            view = await stack.svc.wait_for_incident(incident_id, timeout=60)
    decision = view["plan"]["decision"]
    assert decision["autonomy"] in ("observe", "recommend") and decision["targets"] == []
    passed = {p["value"]: p for p in decision["observables_passed_over"]}
    assert passed[C2]["exclusion"] == "known_good" and "partners" in passed[C2]["reason"]
    assert gateway.rules() == [] and view["playbook_run"] is None


async def test_a_protected_host_is_never_touched(
    temporal_address: str, redis_server: RedisServer, tmp_path: Path, gateway: Actuator
) -> None:
    assets = f"""
assets:
  - name: ceo-laptop
    ips: [{WORKSTATION}]
    criticality: critical
    protected: true
"""
    # The workstation itself is in the feed (say, a shared-IP list gone wrong): still never a target.
    listing = lambda: c2_blocklist().replace(C2, WORKSTATION)  # noqa: E731
    with feed_server({"/c2.csv": listing}) as url:
        async with responder(temporal_address, redis_server, tmp_path, feeds_yaml(url), gateway, assets) as stack:
            await sync(stack, "c2-list")
            incident_id = await stack.svc.send_alert({**BEACON, "id": "evt-44"})
            view = await stack.svc.wait_for_incident(incident_id, timeout=60)
    decision = view["plan"]["decision"]
    assert all(t["value"] != WORKSTATION for t in decision["targets"])
    passed = {p["value"]: p["exclusion"] for p in decision["observables_passed_over"]}
    assert passed[WORKSTATION] == "protected"
    assert gateway.rules() == []


async def test_a_block_ends_when_the_indicator_stops_being_valid(
    temporal_address: str, redis_server: RedisServer, tmp_path: Path, gateway: Actuator
) -> None:
    with feed_server({"/c2.csv": lambda: c2_blocklist(valid_for=timedelta(seconds=20))}) as url:
        async with responder(temporal_address, redis_server, tmp_path, feeds_yaml(url), gateway) as stack:
            await sync(stack, "c2-list")
            incident_id = await stack.svc.send_alert({**BEACON, "id": "evt-45"})
            view = await stack.svc.wait_for_incident(incident_id, timeout=60)
            decision = view["plan"]["decision"]
            valid_until = datetime.fromisoformat(decision["targets"][0]["expires_at"])
            containment = view["containment"]
            assert datetime.fromisoformat(containment["until"]) <= valid_until + timedelta(seconds=2)
            assert f"the TI verdict on {C2} expires at" in (decision["duration_capped_by"] or ""), decision
            [rule] = gateway.rules_for(C2)
            run = view["playbook_run"]
            block = next(s for s in run["steps"] if s["id"] == "block-ip")
            assert block["result"]["receipt"]["handle"] == f"slpf:rule_number {rule}"
            # The containment's timer undoes the block when the indicator expires (the rule itself lasts 24 h).
            for _ in range(150):
                if not gateway.rules_for(C2):
                    break
                await asyncio.sleep(0.2)
            assert gateway.rules_for(C2) == []
