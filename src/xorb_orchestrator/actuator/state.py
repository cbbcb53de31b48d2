"""The state directory: the rule book as one JSON file, replaced atomically, and a lock held while running.

Written as a temporary file, fsynced, renamed over the old one and the directory fsynced, so a crash or power cut
leaves either the old book or the new one, never half of one. The lock (flock on `lock`) keeps a second actuator
off the same directory: two would each believe they own the rules.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

RULES_FILE = "rules.json"
LOCK_FILE = "lock"


class StateError(Exception):
    """The state directory cannot be used; the message says which file and why."""


class StateDir:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / RULES_FILE
        self._lock: int | None = None

    def open(self) -> None:
        """Create the directory (owner-only) if needed and take its lock."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateError(f"--state-dir: cannot use {self.directory}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StateError(f"--state-dir: another actuator is using {self.directory}") from None
        self._lock = fd

    def close(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor releases the flock
            self._lock = None

    def load(self) -> Any:
        """The JSON last saved, or None when nothing has been saved yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            return json.loads(text)
        except ValueError as exc:
            raise StateError(f"{self.path} is not JSON ({exc}); move it away to start with no rules") from None

    def save(self, data: Any) -> None:
        tmp = self.path.with_name(f"{RULES_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, sort_keys=True)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
