"""Observables: the typed facts an alert points at (IPs, hosts, users, hashes ...)."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, field_validator, model_validator


class ObservableType(StrEnum):
    IP = "ip"
    DOMAIN = "domain"
    URL = "url"
    HOSTNAME = "hostname"
    USER = "user"
    FILE_HASH = "file_hash"
    PROCESS = "process"
    PORT = "port"


_HASH = re.compile(r"^[0-9a-fA-F]{32}$|^[0-9a-fA-F]{40}$|^[0-9a-fA-F]{64}$|^[0-9a-fA-F]{128}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Host names as detectors report them: DNS names, NetBIOS names (which may end in `$` for machine accounts).
_HOSTNAME = re.compile(r"^\w[\w.$-]{0,252}$")  # \w: Unicode letters too (Windows allows them)
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]{1,63}\.?$")


class Observable(BaseModel):
    """One observable. `role` says which side it was on (src/dest) where the sender told us."""

    model_config = ConfigDict(frozen=True)

    type: ObservableType
    value: str
    role: str | None = None

    @model_validator(mode="after")
    def _check_value(self) -> Observable:
        object.__setattr__(self, "value", normalise_value(self.type, self.value))
        return self

    @field_validator("value", mode="before")
    @classmethod
    def _to_text(cls, value: object) -> object:
        if isinstance(value, bool):
            raise ValueError("expected a string, got a boolean")
        return str(value).strip() if isinstance(value, int | str) else value


def normalise_value(kind: ObservableType, value: str) -> str:
    """Validate one observable value and return its canonical form; raise ValueError naming the problem."""
    if not value:
        raise ValueError("must not be empty")
    if kind is ObservableType.IP:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None
    if kind is ObservableType.FILE_HASH:
        if not _HASH.match(value):
            raise ValueError(f"{value!r} is not an MD5, SHA-1, SHA-256 or SHA-512 hex digest")
        return value.lower()
    if kind is ObservableType.DOMAIN:
        if not _DOMAIN.match(value):
            raise ValueError(f"{value!r} is not a domain name")
        return value.lower().rstrip(".")
    if kind is ObservableType.URL:
        parts = urlsplit(value)
        if not parts.scheme or not parts.netloc:
            raise ValueError(f"{value!r} is not an absolute URL")
        return value
    if kind is ObservableType.PORT:
        if not value.isdigit() or not 0 <= int(value) <= 65535:
            raise ValueError(f"{value!r} is not a port number 0-65535")
        return str(int(value))
    if len(value) > 1024:
        raise ValueError("is longer than 1024 characters")
    if _CONTROL.search(value):
        # A line break or NUL in a user or process name is an attack on whatever logs or forwards it.
        raise ValueError(f"{value[:80]!r} contains control characters")
    if kind is ObservableType.HOSTNAME and not _HOSTNAME.match(value):
        raise ValueError(f"{value[:80]!r} is not a host name (letters, digits, '.', '-', '_', '$')")
    return value
