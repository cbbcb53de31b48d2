"""The processes of bench/chaos.py and the faults done to them.

Every process runs on 127.0.0.1 on ports chosen free at start, logs to its own file in the work directory, and
is stopped by its own pid. All of them are started from the event loop's thread (never a worker thread: on Linux
the parent-death signal fires when the *thread* that started a child ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from xorb_orchestrator.devtools.stack import find_binary, redis_binary
from xorb_orchestrator.infrastructure.ports import free_port, port_in_use
from xorb_orchestrator.models.search_attributes import SEARCH_ATTRIBUTES

_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
# Settings the processes get only from us: nothing inherited changes what the suite does.
_OWN_VARIABLES = ("XORB_", "TEMPORAL_", "REDIS_URL", "LOG_", "MAX_PARALLEL_WORKFLOWS")
XORB = [sys.executable, "-c", "from xorb_orchestrator.cli.main import main; main()"]
LIVE_STACKS: list[Stack] = []  # every stack of this process, for the last-resort kill on the way out
MAX_RESTARTS = 40  # per process, of exits we did not cause: a crash loop ends the run instead


class ChaosError(Exception):
    """The suite could not run (a process did not start); the message says which and why."""


def _detach() -> None:
    """In each child before exec: own session (Ctrl-C is ours to handle), and on Linux SIGTERM when we die."""
    os.setsid()
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def clean_env(**values: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_OWN_VARIABLES)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in values.items()})
    return env


@dataclass
class Proc:
    """One process we run: started, stopped, killed and restarted by its pid, always with the same command."""

    name: str
    cmd: list[str]
    log: Path
    env: dict[str, str] | None = None
    popen: subprocess.Popen[bytes] | None = None
    busy: bool = False  # we are stopping or restarting it on purpose: the supervisor keeps away
    wanted: bool = False  # it should be running
    starts: int = 0
    crashes: int = 0

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n=== chaos: start #{self.starts} at {time.strftime('%H:%M:%S')} ===\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                self.cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
                preexec_fn=_detach,
            )  # fmt: skip
        self.wanted = True

    def signal(self, sig: signal.Signals) -> None:
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, sig)

    async def wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL when it does not exit in time."""
        self.wanted = False
        self.signal(signal.SIGTERM)
        if not await self.wait_exit(timeout):
            self.signal(signal.SIGKILL)
            await self.wait_exit(10)

    def kill_now(self) -> None:
        """Last resort on the way out (no event loop): SIGKILL and reap."""
        self.wanted = False
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(10)

    def tail(self, lines: int = 6) -> str:
        """The last lines of its log since its latest start."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        text = text.rsplit("=== chaos: start #", 1)[-1]
        return " | ".join(line.strip() for line in text.strip().splitlines()[1:][-lines:])


@dataclass
class Stack:
    """Temporal (SQLite file), Redis, one `xorb api`, N `xorb worker`s, and the faults done to them."""

    work: Path
    tool_url: str
    workers: int = 2
    task_queue: str = "chaos"
    window: float = 0.0  # XORB_CORRELATION_WINDOW_SECONDS; 0: incidents close right after their response
    verbose: bool = True
    t0: float = field(default_factory=time.monotonic)
    events: list[dict[str, Any]] = field(default_factory=list)
    exits: list[dict[str, Any]] = field(default_factory=list)  # exits we did not cause
    procs: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.api_key = "chaos_" + secrets.token_urlsafe(24)
        self.ports = {name: free_port() for name in ("temporal", "http", "metrics", "redis", "api")}
        temporal = find_binary("temporal")
        redis_server = redis_binary()
        if temporal is None or redis_server is None:
            raise ChaosError("the `temporal` or `redis-server` binary was not found; run `make install`")
        cmd = [
            temporal, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
            "--port", str(self.ports["temporal"]), "--http-port", str(self.ports["http"]),
            "--metrics-port", str(self.ports["metrics"]), "--namespace", "default",
            "--db-filename", str(self.work / "temporal.db"),
            "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal", "--log-level", "warn",
        ]  # fmt: skip
        for key in SEARCH_ATTRIBUTES:
            cmd += ["--search-attribute", f"{key.name}=Keyword"]
        self.temporal = Proc("temporal", cmd, self.work / "temporal.log")
        self.redis = Proc(
            "redis",
            [redis_server, "--port", str(self.ports["redis"]), "--bind", "127.0.0.1", "--appendonly", "no",
             "--save", "", "--dir", str(self.work)],
            self.work / "redis.log",
        )  # fmt: skip
        env = clean_env(
            TEMPORAL_HOST=f"127.0.0.1:{self.ports['temporal']}",
            REDIS_URL=f"redis://127.0.0.1:{self.ports['redis']}/0",
            TEMPORAL_TASK_QUEUE=self.task_queue,
            XORB_API_KEYS=self.api_key,
            XORB_API_HOST="127.0.0.1",
            XORB_API_PORT=self.ports["api"],
            XORB_NOTIFY_WEBHOOK_URLS=self.tool_url,
            XORB_CORRELATION_WINDOW_SECONDS=self.window,
            XORB_PLAYBOOKS_DIR=self.work / "playbooks",  # none: every incident gets the built-in notify plan
            XORB_AUTO_PLAYBOOKS="none",
            LOG_LEVEL="INFO",
        )
        (self.work / "playbooks").mkdir(exist_ok=True)
        self.api = Proc("api", [*XORB, "api"], self.work / "api.log", env)
        self.worker_procs = [
            Proc(f"worker-{i}", [*XORB, "worker"], self.work / f"worker-{i}.log", env) for i in range(self.workers)
        ]
        self.procs = [self.temporal, self.redis, self.api, *self.worker_procs]
        LIVE_STACKS.append(self)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 2)

    def event(self, what: str, **details: Any) -> None:
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.events.append({"t": self.now(), "at": at, "event": what, **details})
        if self.verbose:
            extra = " ".join(f"{k}={v}" for k, v in details.items())
            print(f"chaos: t={self.now():7.1f} s  {what}  {extra}", flush=True)

    async def _wait_port(self, proc: Proc, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not port_in_use(port):
            if not proc.alive():
                raise ChaosError(f"{proc.name} exited with {proc.popen and proc.popen.poll()}: {proc.tail()}")
            if time.monotonic() > deadline:
                raise ChaosError(f"{proc.name} did not listen on port {port} within {timeout:.0f} s: {proc.tail()}")
            await asyncio.sleep(0.1)

    async def start(self, timeout: float = 90.0) -> None:
        self.temporal.start()
        self.redis.start()
        await self._wait_port(self.temporal, self.ports["temporal"], timeout)
        await self._wait_port(self.redis, self.ports["redis"], timeout)
        self.api.start()
        for worker in self.worker_procs:
            worker.start()
        await self._wait_port(self.api, self.ports["api"], timeout)
        for worker in self.worker_procs:
            if not worker.alive():
                raise ChaosError(f"{worker.name} exited at start: {worker.tail()}")
        self.event("started", pids={p.name: p.pid for p in self.procs})

    async def supervise(self, stop: asyncio.Event) -> None:
        """Start again any process that exited without our doing, and write down how it ended."""
        while not stop.is_set():
            for proc in self.procs:
                if proc.wanted and not proc.busy and not proc.alive():
                    code = proc.popen.poll() if proc.popen else None
                    proc.crashes += 1
                    self.exits.append(
                        {"t": self.now(), "process": proc.name, "pid": proc.pid, "code": code,
                         "temporal_up": self.temporal.alive() and not self.temporal.busy, "log": proc.tail()}
                    )  # fmt: skip
                    if proc.crashes > MAX_RESTARTS:
                        raise ChaosError(f"{proc.name} keeps exiting ({proc.crashes} times): {proc.tail()}")
                    proc.start()
                    self.event("restarted after an exit of its own", process=proc.name, code=code, pid=proc.pid)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)

    async def kill_worker(self, index: int) -> None:
        """SIGKILL one worker, and start it again at once with the same command."""
        worker = self.worker_procs[index]
        worker.busy = True
        try:
            old = worker.pid
            worker.signal(signal.SIGKILL)
            await worker.wait_exit(10)
            worker.start()
            self.event("worker SIGKILLed and restarted", process=worker.name, killed_pid=old, new_pid=worker.pid)
        finally:
            worker.busy = False

    async def restart_temporal(self, down_seconds: float) -> None:
        """SIGTERM the Temporal server, wait for it to exit, start it again on the same ports and database."""
        proc = self.temporal
        proc.busy = True
        try:
            self.event("temporal SIGTERM", pid=proc.pid)
            proc.signal(signal.SIGTERM)
            if not await proc.wait_exit(30):
                proc.signal(signal.SIGKILL)
                await proc.wait_exit(10)
                self.event("temporal did not stop within 30 s: SIGKILLed")
            await asyncio.sleep(down_seconds)
            deadline = time.monotonic() + 30
            while port_in_use(self.ports["temporal"]) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            proc.start()
            await self._wait_port(proc, self.ports["temporal"], 90)
            self.event("temporal started again on the same database", pid=proc.pid)
        finally:
            proc.busy = False

    async def redis_outage(self, seconds: float) -> None:
        """Stop Redis (no persistence: it comes back empty) for `seconds`, then start it again."""
        proc = self.redis
        proc.busy = True
        try:
            self.event("redis stopped", pid=proc.pid, seconds=seconds)
            await proc.stop(10)
            await asyncio.sleep(seconds)
            proc.start()
            await self._wait_port(proc, self.ports["redis"], 30)
            self.event("redis started again (empty)", pid=proc.pid)
        finally:
            proc.busy = False

    async def flush_redis(self) -> None:
        deadline = time.monotonic() + 60
        while self.redis.busy or not self.redis.alive():
            if time.monotonic() > deadline:
                self.event("redis flush skipped: redis not up within 60 s")
                return
            await asyncio.sleep(0.2)
        client = redis.Redis(host="127.0.0.1", port=self.ports["redis"], socket_timeout=5)
        try:
            keys = client.dbsize()
            client.flushall()
            self.event("redis FLUSHALL", keys_before=keys)
        finally:
            client.close()

    async def stop_all(self) -> None:
        """Workers first (they finish or hand back what they hold), then the API, Temporal, Redis."""
        for proc in [*self.worker_procs, self.api, self.temporal, self.redis]:
            proc.busy = True
            await proc.stop(20)

    def kill_all_now(self) -> None:
        for proc in self.procs:
            proc.kill_now()


async def sleep_until(t0: float, offset: float) -> None:
    await asyncio.sleep(max(0.0, t0 + offset - time.monotonic()))


async def worker_kills(stack: Stack, rng: random.Random, kills: int, duration: float) -> None:
    """`kills` SIGKILLs of a random worker at random moments of the sending phase."""
    for at in sorted(rng.uniform(0.05, 0.95) * duration for _ in range(kills)):
        await sleep_until(stack.t0, at)
        await stack.kill_worker(rng.randrange(len(stack.worker_procs)))


async def temporal_restarts(stack: Stack, restarts: int, duration: float, down_seconds: float) -> None:
    """`restarts` restarts of the Temporal server, evenly spread over the sending phase."""
    for i in range(restarts):
        await sleep_until(stack.t0, duration * (i + 0.6) / (restarts + 0.2))
        await stack.restart_temporal(down_seconds)


async def redis_faults(stack: Stack, down_seconds: float, flushes: int, duration: float) -> None:
    """Redis stopped for `down_seconds` a fifth into the sending phase; then `flushes` FLUSHALLs."""
    if down_seconds > 0:
        await sleep_until(stack.t0, 0.2 * duration)
        await stack.redis_outage(down_seconds)
    for i in range(flushes):
        await sleep_until(stack.t0, duration * (0.55 + 0.4 * (i + 1) / (flushes + 1)))
        await stack.flush_redis()
