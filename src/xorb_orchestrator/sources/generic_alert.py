"""The generic JSON alert accepted by POST /v1/alerts, and its conversion to an Alert."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, StringConstraints, field_validator

from xorb_orchestrator.models.alert import TECHNIQUE_PATTERN, Alert
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

Technique = Annotated[str, StringConstraints(pattern=TECHNIQUE_PATTERN)]
# Strict: JSON true must not slip through as the number 1 (a port, a user id ...).
ObservableValue = StrictStr | StrictInt | list[StrictStr | StrictInt]


class ObservableItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    value: ObservableValue
    role: str | None = None


class GenericAlert(BaseModel):
    """Wire format of the generic alert. Unknown top-level fields are refused so typos are caught."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, max_length=500)
    title: str = Field(min_length=1, max_length=1000)
    severity: Severity
    source: str = Field("generic", min_length=1, max_length=200)
    rule: str | None = Field(None, max_length=500)
    time: datetime | None = None
    observables: dict[str, ObservableValue] | list[ObservableItem] = Field(default_factory=dict)
    techniques: list[Technique] = Field(default_factory=list, max_length=100)
    raw: dict[str, Any] = Field(default_factory=dict)

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: object) -> Severity:
        return Severity.parse(value)

    @field_validator("observables")
    @classmethod
    def _check_observables(
        cls, value: dict[str, ObservableValue] | list[ObservableItem]
    ) -> dict[str, ObservableValue] | list[ObservableItem]:
        for key, kind, _role, item in _iter_observables(value):
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
