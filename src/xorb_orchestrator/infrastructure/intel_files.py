"""Reading the threat-intelligence and policy files named in the settings, at start-up and on change.

Each reader turns its file's problem into a SettingsError of one line (the file, the entry, the field), so a
misconfiguration stops the service with a clear message instead of a traceback or, worse, silence.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from xorb_orchestrator.config import Settings, SettingsError
from xorb_orchestrator.intel.feeds_config import FeedsConfig, FeedsConfigError, load_feeds
from xorb_orchestrator.policy.assets import AssetInventory, AssetsInvalid, asset_format, load_assets
from xorb_orchestrator.policy.response_policy import (
    DEFAULT_POLICY_FILE,
    ResponsePolicy,
    ResponsePolicyInvalid,
    load_policy,
)


def _read(path: Path, variable: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SettingsError(f"{variable}: cannot read {path}: {reason}") from None


def read_feeds(settings: Settings) -> FeedsConfig:
    """XORB_TI_FEEDS_FILE's feeds; none when it is not set."""
    path = settings.ti_feeds_file
    if path is None:
        return FeedsConfig()
    try:
        return load_feeds(_read(path, "XORB_TI_FEEDS_FILE"), str(path))
    except FeedsConfigError as exc:
        raise SettingsError(f"XORB_TI_FEEDS_FILE: {exc}") from None


def read_policy(settings: Settings) -> ResponsePolicy:
    """XORB_POLICY_FILE's response policy; the bundled conservative one when it is not set."""
    path = settings.policy_file or DEFAULT_POLICY_FILE
    try:
        return load_policy(_read(path, "XORB_POLICY_FILE"), str(path))
    except ResponsePolicyInvalid as exc:
        raise SettingsError(f"XORB_POLICY_FILE: {exc}") from None


class AssetsFile:
    """XORB_ASSETS_FILE, re-read when the file changes (its size or modification time, checked on each
    `current()`); the deployment's internal networks alone when it is not set. A file that turns bad keeps the
    last good inventory (and says why in `problem`) rather than forgetting what is protected."""

    def __init__(self, settings: Settings) -> None:
        self._path = settings.assets_file
        self._networks = settings.internal_cidrs
        self._lock = threading.Lock()
        self._inventory = AssetInventory((), self._networks, origin="XORB_INTERNAL_NETWORKS")
        self._seen: tuple[int, int] | None = None  # (size, mtime ns) of the file last read
        self.problem: str | None = None
        if self._path is not None:
            self._seen = self._stat()
            self._inventory = self._load(_read(self._path, "XORB_ASSETS_FILE"))

    @property
    def watched(self) -> bool:
        """Whether there is a file to watch (else `current()` never changes and needs no I/O)."""
        return self._path is not None

    def _stat(self) -> tuple[int, int] | None:
        assert self._path is not None
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return stat.st_size, stat.st_mtime_ns

    def _load(self, text: str) -> AssetInventory:
        assert self._path is not None
        try:
            return load_assets(text, str(self._path), asset_format(self._path.name), internal_networks=self._networks)
        except AssetsInvalid as exc:
            raise SettingsError(f"XORB_ASSETS_FILE: {exc}") from None

    def current(self) -> AssetInventory:
        if self._path is None:
            return self._inventory
        with self._lock:
            seen = self._stat()
            if seen is not None and seen == self._seen and self.problem is None:
                return self._inventory
            try:
                text = _read(self._path, "XORB_ASSETS_FILE")
                if hashlib.sha256(text.encode("utf-8")).hexdigest() != self._inventory.sha256:
                    self._inventory = self._load(text)
                self._seen, self.problem = seen, None
            except SettingsError as exc:
                self.problem = f"{exc} (still using the last good inventory)"
            return self._inventory
