"""Running the real `xorb` command as a subprocess (worker, dev), and stopping it by its pid."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xorb_orchestrator.config import Settings

# The settings' environment variables: a subprocess gets only the ones a test gives it.
_OWN_VARIABLES = ("TEMPORAL_", "REDIS_URL", "MAX_PARALLEL_WORKFLOWS", "LOG_", "XORB_")


def clean_env(**values: object) -> dict[str, str]:
    """This environment without any inherited xorb setting, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_OWN_VARIABLES)}
    env.update({k: str(v) for k, v in values.items()})
    return env


def worker_env(settings: Settings, **extra: object) -> dict[str, str]:
    """The environment of a worker serving the same deployment (task queue) as `settings`."""
    return clean_env(
        TEMPORAL_HOST=settings.temporal_host,
        REDIS_URL=settings.redis_url,
        TEMPORAL_TASK_QUEUE=settings.temporal_task_queue,
        MAX_PARALLEL_WORKFLOWS=settings.max_parallel_workflows,
        XORB_NOTIFY_WEBHOOK_URLS=settings.notify_webhook_urls,
        XORB_INCIDENT_LINGER_SECONDS=0,
        **extra,
    )


@dataclass
class XorbProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def interrupt_group(self) -> None:
        """What Ctrl-C in a terminal does: SIGINT to the whole foreground process group."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
        return self.proc.wait(10)


def start_xorb(args: list[str], env: Mapping[str, str], log: Path, *, new_group: bool = False) -> XorbProcess:
    """`xorb <args>` (the console script's entry point) with stdout and stderr going to `log`.

    `new_group`: in its own process group, like a command run from a terminal (see `interrupt_group`).
    """
    cmd = [sys.executable, "-c", "from xorb_orchestrator.cli.main import main; main()", *args]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=new_group,
        )
    return XorbProcess(proc, log)


@contextlib.contextmanager
def xorb_processes() -> Iterator[list[XorbProcess]]:
    """A list to add started processes to; every one is stopped (by pid) on the way out."""
    started: list[XorbProcess] = []
    try:
        yield started
    finally:
        for proc in started:
            proc.stop()


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc (Linux)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: the fields follow the last ')'.
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return sorted(children)


def alive(pid: int) -> bool:
    """Running (a zombie, waiting to be reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def command_name(pid: int) -> str:
    """The program's file name (redis-server rewrites its argv to "redis-server host:port")."""
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""
    return Path(argv0.split(" ")[0]).name


async def wait_for_file(path: Path, proc: XorbProcess, timeout: float) -> None:
    """Wait until `path` exists; fail early (with the process's output) if the process exits."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.proc.poll() is not None:
            raise AssertionError(f"xorb exited with {proc.proc.returncode}:\n{proc.output()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout:.0f}s:\n{proc.output()[-3000:]}")
        await asyncio.sleep(0.05)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
