"""Where `xorb alerts follow` is in a file: (device, inode, offset), kept in a small state file.

Written atomically, and only once the API has answered for every line before the offset, so a
follower killed at any moment resumes where the API last confirmed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STATE_SUFFIX = ".xorb-offset"
DEAD_LETTER_SUFFIX = ".dead"
# How much of the file's start the state file fingerprints, to recognise a file truncated and rewritten.
HEAD_BYTES = 1024


@dataclass(frozen=True)
class Position:
    """Where the API has answered up to: every line before `offset` of the file (device, inode)."""

    device: int
    inode: int
    offset: int
    head: str  # sha256 of the file's first min(offset, HEAD_BYTES) bytes

    def same_file(self, stat: os.stat_result) -> bool:
        return (self.device, self.inode) == (stat.st_dev, stat.st_ino)


def load_position(state_path: Path) -> Position | None:
    """The saved position, or None if there is none (or it is unreadable: then the file is read again)."""
    try:
        data = json.loads(state_path.read_text(encoding="utf-8"))
        return Position(int(data["device"]), int(data["inode"]), int(data["offset"]), str(data["head"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("state file %s is unreadable (%s); reading the file from the start", state_path, exc)
        return None


def save_position(state_path: Path, position: Position, *, followed: Path | None = None) -> None:
    """Write the state file atomically: a temporary file, fsync, rename over, fsync the directory."""
    data = {
        "path": str(followed) if followed else None,
        "device": position.device,
        "inode": position.inode,
        "offset": position.offset,
        "head": position.head,
    }
    tmp = state_path.with_name(f"{state_path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, json.dumps(data).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, state_path)
    dir_fd = os.open(state_path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself must survive a power cut
    finally:
        os.close(dir_fd)


def head_digest(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()


def default_state_path(followed: Path, home: Path | None = None) -> Path:
    """`<FILE>.xorb-offset` next to the file if its directory is writable, else under ~/.local/state/xorb/."""
    followed = followed.absolute()
    if os.access(followed.parent, os.W_OK | os.X_OK):
        return followed.with_name(followed.name + STATE_SUFFIX)
    digest = hashlib.sha256(str(followed).encode()).hexdigest()[:12]
    return (home or Path.home()) / ".local" / "state" / "xorb" / f"{followed.name}-{digest}{STATE_SUFFIX}"


def dead_letter_path(state_path: Path) -> Path:
    """`<state file>.dead`: the lines set aside while following, next to the offset that passed them."""
    return state_path.with_name(state_path.name + DEAD_LETTER_SUFFIX)
