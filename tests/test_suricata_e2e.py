"""A real detector end to end: Suricata replays a capture we build, its eve.json becomes incidents.

Suricata comes from the Debian package (bookworm-backports on bookworm); `.ci/run` installs it.
Where it is absent these tests skip, saying so.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support import pcap
from tests.support.paths import DATA as DATA_DIR
from tests.support.processes import XorbProcess, clean_env, start_xorb, xorb_processes
from tests.support.stack import API_KEY, RunningService, make_settings, service
from xorb_orchestrator.models.severity import Severity
from xorb_orchestrator.sources import parse_event

RULES = DATA_DIR / "suricata" / "local.rules"
HTTP_SID, DNS_SID = "9000001", "9000002"
HTTP_URL = f"http://{pcap.HTTP_HOST}{pcap.HTTP_PATH}"

# Self-contained: nothing from /etc/suricata, so the distribution's defaults cannot change the result.
# Rule metadata (the ATT&CK ids) is logged in `alert.metadata` by default; `metadata: yes` also keeps
# the app-layer parts (http, dns) in each alert, which the adapter turns into observables.
CONFIG = """\
%YAML 1.1
---
vars:
  address-groups:
    HOME_NET: "[10.0.0.0/8]"
    EXTERNAL_NET: "!$HOME_NET"
classification-file: {dir}/classification.config
reference-config-file: {dir}/reference.config
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - alert:
            metadata: yes
        - http
        - dns
logging:
  default-log-level: notice
  outputs:
    - console:
        enabled: yes
"""
CLASSIFICATIONS = """\
config classification: bad-unknown,Potentially Bad Traffic,2
config classification: trojan-activity,A Network Trojan was detected,1
"""

# The observables each rule's incident must carry (the client's ephemeral port is deliberately absent).
HTTP_OBSERVABLES = {
    ("ip", pcap.CLIENT_IP, "src"),
    ("ip", pcap.SERVER_IP, "dest"),
    ("port", "80", "dest"),
    ("domain", pcap.HTTP_HOST, None),
    ("url", HTTP_URL, None),
}
DNS_OBSERVABLES = {
    ("ip", pcap.CLIENT_IP, "src"),
    ("ip", pcap.RESOLVER_IP, "dest"),
    ("port", "53", "dest"),
    ("domain", pcap.DNS_NAME, None),
}


def _suricata() -> str:
    binary = shutil.which("suricata")
    if binary is None:
        pytest.skip("suricata is not installed; .ci/run installs it")
    return binary


def run_suricata(capture: Path, log_dir: Path, conf_dir: Path) -> Path:
    """Replay `capture` offline with only our local rules; return the eve.json it wrote into `log_dir`."""
    conf_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "classification.config").write_text(CLASSIFICATIONS)
    (conf_dir / "reference.config").write_text("")
    config = conf_dir / "suricata.yaml"
    config.write_text(CONFIG.format(dir=conf_dir))
    cmd = [
        _suricata(), "-c", str(config), "-r", str(capture), "-S", str(RULES), "-l", str(log_dir),
        "-k", "none", "--runmode", "single",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"suricata exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return log_dir / "eve.json"


def read_eve(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def observables(item: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    return {(o["type"], o["value"], o.get("role")) for o in item["observables"]}


@pytest.fixture(scope="module")
def eve_events(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    _suricata()
    work = tmp_path_factory.mktemp("suricata")
    capture = pcap.write_c2_capture(work / "c2.pcap")
    return read_eve(run_suricata(capture, work / "log", work / "conf"))


def test_suricata_alerts_on_the_capture_and_the_adapter_reads_them(eve_events: list[dict[str, Any]]) -> None:
    alerts = {str(e["alert"]["signature_id"]): e for e in eve_events if e["event_type"] == "alert"}
    assert set(alerts) == {HTTP_SID, DNS_SID}, [e["event_type"] for e in eve_events]
    # The protocol logs are there too: telemetry the adapter ignores (None), not alerts.
    others = [e for e in eve_events if e["event_type"] != "alert"]
    assert {e["event_type"] for e in others} == {"http", "dns"}
    assert all(parse_event("suricata", e) is None for e in others)

    http = parse_event("suricata", alerts[HTTP_SID])
    assert http is not None
    assert (http.source, http.product, http.rule, http.rule_id) == ("suricata", "Suricata", HTTP_SID, HTTP_SID)
    assert http.title == alerts[HTTP_SID]["alert"]["signature"]
    assert http.severity is Severity.HIGH  # trojan-activity: priority 1
    assert http.techniques == ["T1071.001"]
    assert http.categories == ["A Network Trojan was detected"]
    assert {(o.type.value, o.value, o.role) for o in http.observables} == HTTP_OBSERVABLES
    assert http.event_id and http.time is not None and http.raw == alerts[HTTP_SID]

    dns = parse_event("suricata", alerts[DNS_SID])
    assert dns is not None
    assert dns.severity is Severity.MEDIUM  # bad-unknown: priority 2
    assert dns.techniques == ["T1071.004"]
    assert {(o.type.value, o.value, o.role) for o in dns.observables} == DNS_OBSERVABLES


# --- Through the service ----------------------------------------------------------------------


async def _our_incidents(svc: RunningService, follower: XorbProcess, timeout: float = 45) -> dict[str, Any]:
    """Poll GET /v1/incidents until both rules' incidents are there, by rule id (other tests share Temporal)."""
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if follower.proc.poll() is not None:
            raise AssertionError(f"xorb alerts follow exited with {follower.proc.returncode}:\n{follower.output()}")
        response = await svc.http.get("/v1/incidents", params={"page_size": 500})
        if response.status_code == 200:
            found = {
                item["rule"]: item
                for item in response.json()["items"]
                if item["source"] == "suricata" and item["rule"] in (HTTP_SID, DNS_SID)
            }
            if len(found) == 2 and all(item["techniques"] for item in found.values()):
                return found
        await asyncio.sleep(0.3)
    raise AssertionError(f"incidents did not appear; found {found}; follower said:\n{follower.output()[-3000:]}")


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.timeout(120)
async def test_suricata_eve_followed_into_incidents(temporal_address: str, redis_server, tmp_path: Path) -> None:
    _suricata()
    # TEMPORARY, until `xorb alerts follow` lands; delete this guard then, so the test cannot skip silently.
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    eve = log_dir / "eve.json"
    eve.touch()  # as a sensor's log exists before its first alert; Suricata appends to it
    settings = make_settings(temporal_address, redis_server.url)
    async with service(settings) as svc:
        with xorb_processes() as started:
            # HOME and XDG_STATE_HOME inside tmp_path: wherever follow keeps its offset, it stays here.
            env = clean_env(HOME=tmp_path, XDG_STATE_HOME=tmp_path / "state")
            args = ["alerts", "follow", "--source", "suricata", str(eve),
                    "--api-url", svc.base_url, "--api-key", API_KEY]  # fmt: skip
            follower = start_xorb(args, env, tmp_path / "follow.log")
            started.append(follower)
            await _wait_until_open(follower, eve)
            capture = pcap.write_c2_capture(tmp_path / "c2.pcap")
            await asyncio.to_thread(run_suricata, capture, log_dir, tmp_path / "conf")
            incidents = await _our_incidents(svc, follower)
            follower.stop()  # by its pid, once the incidents are there

    http, dns = incidents[HTTP_SID], incidents[DNS_SID]
    assert http["techniques"] == ["T1071.001"] and dns["techniques"] == ["T1071.004"]
    assert observables(http) == HTTP_OBSERVABLES
    assert observables(dns) == DNS_OBSERVABLES
    assert (http["severity"], dns["severity"]) == ("high", "medium")
    # Two alert events in eve.json, each sent once; the http and dns log events were not alerts.
    assert (http["alert_count"], dns["alert_count"]) == (1, 1)
    assert http["incident_id"] != dns["incident_id"]


async def _wait_until_open(proc: XorbProcess, path: Path, timeout: float = 15) -> None:
    """Until the follower has `path` open (from /proc), so a tail-from-the-end follower misses nothing."""
    deadline = time.monotonic() + timeout
    target = str(path.resolve())
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise AssertionError(f"xorb alerts follow exited with {proc.proc.returncode}:\n{proc.output()}")
        try:
            fds = list(Path(f"/proc/{proc.pid}/fd").iterdir())
            if any(_link(fd) == target for fd in fds):
                return
        except OSError:
            pass
        await asyncio.sleep(0.1)
    # Not seen open (a follower that reopens per poll, say): go on; the file is still empty.


def _link(fd: Path) -> str:
    try:
        return str(fd.readlink())
    except OSError:
        return ""
