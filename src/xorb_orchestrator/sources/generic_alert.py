"""The generic JSON alert accepted by POST /v1/alerts, and its conversion to an Alert."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, WithJsonSchema, field_validator

from xorb_orchestrator.models.alert import MAX_OBSERVABLES, MAX_TECHNIQUES, Alert, Technique
from xorb_orchestrator.models.observable import Observable, ObservableType, normalise_value
from xorb_orchestrator.models.severity import Severity

# Keys of the observables object, and what each is: (type, role).
OBSERVABLE_KEYS: dict[str, tuple[ObservableType, str | None]] = {
    "src_ip": (ObservableType.IP, "src"),
    "dest_ip": (ObservableType.IP, "dest"),
    "dst_ip": (ObservableType.IP, "dest"),
    "ip": (ObservableType.IP, None),
    "host": (ObservableType.HOSTNAME, None),
    "hostname": (ObservableType.HOSTNAME, None),
    "user": (ObservableType.USER, None),
    "file_hash": (ObservableType.FILE_HASH, None),
    "hash": (ObservableType.FILE_HASH, None),
    "url": (ObservableType.URL, None),
    "domain": (ObservableType.DOMAIN, None),
    "process": (ObservableType.PROCESS, None),
    "src_port": (ObservableType.PORT, "src"),
    "dest_port": (ObservableType.PORT, "dest"),
    "port": (ObservableType.PORT, None),
}

# RFC 3339's shape (the offset may be left out: UTC). Numbers and bare dates are refused, not read as epochs.
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
# The longest observable value (a URL, the longest kind; each kind has its own rules below that), and the longest
# observable name or role (words: src_ip, dest). Checked in _check_observables, not in the types: a constrained type
# in a union puts its tag, and a too-long name the name itself, into every error's path.
MAX_VALUE_CHARS = 8192
MAX_NAME_CHARS = 64
# Strict: JSON true must not slip through as the number 1 (a port, a user id ...).
ObservableValue = StrictStr | StrictInt | list[StrictStr | StrictInt]
SEVERITY_SCHEMA = {
    "anyOf": [
        {"type": "string", "enum": ["informational", "low", "medium", "high", "critical", "fatal"]},
        {"type": "integer", "minimum": 0, "maximum": 6},
    ],
    "description": "a label or OCSF's severity_id (0-6)",
}


class ObservableItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(max_length=MAX_NAME_CHARS)
    value: ObservableValue
    role: str | None = Field(None, max_length=MAX_NAME_CHARS)


class GenericAlert(BaseModel):
    """Wire format of the generic alert. Unknown top-level fields are refused so typos are caught."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, max_length=500)
    title: str = Field(min_length=1, max_length=1000)
    severity: Annotated[Severity, WithJsonSchema(SEVERITY_SCHEMA)]
    source: str = Field("generic", min_length=1, max_length=200)
    rule: str | None = Field(None, max_length=500)
    time: datetime | None = None
    observables: dict[str, ObservableValue] | list[ObservableItem] = Field(default_factory=dict)
    techniques: list[Technique] = Field(default_factory=list, max_length=MAX_TECHNIQUES)
    raw: dict[str, Any] = Field(default_factory=dict)

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: object) -> Severity:
        return Severity.parse(value)

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: object) -> object:
        if value is not None and not (isinstance(value, str) and _DATE_TIME.match(value)):
            shown = value[:40] if isinstance(value, str) else value
            raise ValueError(f"expected an RFC 3339 date-time such as 2024-06-06T09:40:12Z, got {shown!r}")
        return value

    @field_validator("observables")
    @classmethod
    def _check_observables(
        cls, value: dict[str, ObservableValue] | list[ObservableItem]
    ) -> dict[str, ObservableValue] | list[ObservableItem]:
        if isinstance(value, dict) and any(len(key) > MAX_NAME_CHARS for key in value):
            raise ValueError(f"an observable name is longer than {MAX_NAME_CHARS} characters")
        found = _iter_observables(value)
        # Counted as values: one key may carry a list, and 55,000 of them in 800 KB must be refused, not tried.
        if len(found) > MAX_OBSERVABLES:
            raise ValueError(f"{len(found)} values; an alert carries at most {MAX_OBSERVABLES} observables")
        for key, kind, _role, item in found:
            if isinstance(item, str) and len(item) > MAX_VALUE_CHARS:
                raise ValueError(f"observables.{key}: longer than {MAX_VALUE_CHARS} characters")
            try:
                normalise_value(kind, str(item).strip())
            except ValueError as exc:
                raise ValueError(f"observables.{key}: {exc}") from None
        return value

    def to_alert(self) -> Alert:
        seen: set[tuple[ObservableType, str, str | None]] = set()
        observables: list[Observable] = []
        for _key, kind, role, item in _iter_observables(self.observables):
            obs = Observable(type=kind, value=str(item), role=role)
            if (obs.type, obs.value, obs.role) not in seen:
                seen.add((obs.type, obs.value, obs.role))
                observables.append(obs)
        return Alert(
            source=self.source,
            title=self.title,
            severity=self.severity,
            rule=self.rule,
            event_id=self.id,
            time=self.time,
            observables=observables,
            techniques=list(dict.fromkeys(self.techniques)),
            raw=self.raw,
        )


def _iter_observables(
    value: dict[str, ObservableValue] | list[ObservableItem],
) -> list[tuple[str, ObservableType, str | None, str | int]]:
    out: list[tuple[str, ObservableType, str | None, str | int]] = []
    pairs = (
        [(k, v, None) for k, v in value.items()]
        if isinstance(value, dict)
        else [(item.type, item.value, item.role) for item in value]
    )
    for key, raw_value, explicit_role in pairs:
        if key in OBSERVABLE_KEYS:
            kind, role = OBSERVABLE_KEYS[key]
        else:
            try:
                kind, role = ObservableType(key), None
            except ValueError:
                known = ", ".join(sorted(OBSERVABLE_KEYS))
                raise ValueError(f"observables.{key}: unknown observable type; expected one of {known}") from None
        for item in raw_value if isinstance(raw_value, list) else [raw_value]:
            out.append((key, kind, explicit_role or role, item))
    return out
