"""`xorb actuator slpf` running for a test: on a gateway network namespace (tests/support/netns.py), on a port
chosen before it starts (so a connections file can name it first), stopped by its pid afterwards."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.netns import Pair
from tests.support.processes import XorbProcess, clean_env, start_xorb, xorb_processes
from xorb_orchestrator.infrastructure.ports import free_port

KEY_VARIABLE = "XORB_TEST_ACTUATOR_KEY"  # the producer's connection names its key by this reference


@dataclass
class Actuator:
    url: str
    key: str
    state_dir: Path
    proc: XorbProcess | None = None

    def rules(self) -> list[dict[str, Any]]:
        """The rules it holds (its persisted rule book)."""
        path = self.state_dir / "rules.json"
        return list(json.loads(path.read_text())["rules"]) if path.exists() else []

    def rules_for(self, address: str) -> list[int]:
        """The numbers of its rules whose target is `address`."""
        return [r["number"] for r in self.rules() if address in json.dumps(r["command"]["target"])]

    def connection_yaml(self, name: str = "gw") -> str:
        """A connections-file entry for it (type openc2-slpf, the key by reference)."""
        return (
            f"  - name: {name}\n    type: openc2-slpf\n    url: {self.url}\n"
            f'    auth: {{type: bearer, token: "env:{KEY_VARIABLE}"}}\n'
        )


def planned_actuator(tmp_path: Path) -> Actuator:
    """Where an actuator will listen, with its key, before it runs."""
    return Actuator(f"http://127.0.0.1:{free_port()}/openc2", "actuator-key-" + uuid.uuid4().hex, tmp_path / "slpf")


@contextmanager
def running_actuator(planned: Actuator, pair: Pair, log_dir: Path) -> Iterator[Actuator]:
    """Start it on `pair`'s gateway namespace; it answers before this yields."""
    port = planned.url.rsplit(":", 1)[1].split("/", 1)[0]
    args = ["actuator", "slpf", "--listen", f"127.0.0.1:{port}", "--netns", pair.gateway,
            "--state-dir", str(planned.state_dir)]  # fmt: skip
    with xorb_processes() as started:
        proc = start_xorb(args, clean_env(XORB_ACTUATOR_API_KEYS=planned.key), log_dir / "actuator.log")
        started.append(proc)
        deadline = time.monotonic() + 20
        while True:
            assert proc.proc.poll() is None, f"the actuator exited:\n{proc.output()[-2000:]}"
            assert time.monotonic() < deadline, f"the actuator did not come up:\n{proc.output()[-2000:]}"
            try:
                httpx.post(planned.url, json={}, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        planned.proc = proc
        yield planned
