"""The normalized alert every detector's format is turned into (aligned with OCSF Detection Finding)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, field_serializer, field_validator, model_validator

from xorb_orchestrator.models.observable import Observable, ObservableType
from xorb_orchestrator.models.severity import Severity

TECHNIQUE_PATTERN = r"^T\d{4}(\.\d{3})?$"
# Counts every adapter must keep to (the generic alert refuses more; the detector adapters keep fewer): one alert
# is one signal to its incident, and a signal must stay well under Temporal's 2 MB.
MAX_OBSERVABLES = 1000
MAX_TECHNIQUES = 100
MAX_CATEGORIES = 50
Technique = Annotated[str, StringConstraints(pattern=TECHNIQUE_PATTERN)]
Category = Annotated[str, StringConstraints(max_length=200)]
# An alert travels in signals, histories and the incident's samples, all bounded by Temporal (2 MB a payload,
# 50 MB a history): the detector's original event is kept whole up to this size, else as an excerpt.
MAX_RAW_BYTES = 16 * 1024
RAW_EXCERPT_CHARS = 4 * 1024


def bounded_raw(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` itself when its JSON is at most MAX_RAW_BYTES, else `{_truncated, size, sha256, excerpt}`: the size
    and SHA-256 of its compact JSON, and that JSON's first RAW_EXCERPT_CHARS characters."""
    if not raw or raw.get("_truncated") is True:
        return raw
    text = json.dumps(raw, separators=(",", ":"), ensure_ascii=False, default=str)
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= MAX_RAW_BYTES:
        return raw
    return {
        "_truncated": True,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "excerpt": text[:RAW_EXCERPT_CHARS],
    }


def is_unicode(text: str) -> bool:
    """False for text with a lone surrogate (which \\ud800 in JSON decodes to and no encoder writes back)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Alert(BaseModel):
    """One alert from one detector, after parsing."""

    source: str = Field(min_length=1, max_length=200)
    title: str = Field(min_length=1, max_length=1000)
    severity: Severity
    # `rule` is what correlation keys on: the rule's id when the sender gives one (ids survive renames
    # and rule revisions), else its name.
    rule: str | None = Field(None, max_length=500)
    rule_id: str | None = Field(None, max_length=500, description="the sender's id for the rule that fired")
    rule_name: str | None = Field(None, max_length=1000, description="the rule's human-readable name")
    product: str | None = Field(None, max_length=200, description="the product that detected it")
    categories: list[Category] = Field(
        default_factory=list,
        max_length=MAX_CATEGORIES,
        description="the sender's classification: rule groups, category, tags",
    )
    event_id: str | None = Field(None, max_length=500, description="the sender's own id for this event")
    time: datetime | None = None
    observables: list[Observable] = Field(default_factory=list, max_length=MAX_OBSERVABLES)
    techniques: list[Technique] = Field(default_factory=list, max_length=MAX_TECHNIQUES)
    raw: dict[str, Any] = Field(
        default_factory=dict, description=f"the detector's event; over {MAX_RAW_BYTES} bytes, an excerpt (bounded_raw)"
    )

    @field_validator("time")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        # Naive means UTC. Kept in UTC, because incidents compare their alerts' times: a naive and an aware time
        # do not compare, and 9999-12-31T23:59-14:00 has no UTC.
        if value is None:
            return None
        try:
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{value.isoformat()} is out of range once in UTC") from None

    @field_validator("raw")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        return bounded_raw(value)

    @field_validator("severity", mode="before")
    @classmethod
    def _severity(cls, value: object) -> Severity:
        return Severity.parse(value)

    @model_validator(mode="after")
    def _text_is_unicode(self) -> Alert:
        # A lone surrogate cannot be encoded: it would break the fingerprint, the correlation key and every JSON
        # writer downstream. (`raw` is checked where it is decoded; see api/json_input.py.)
        texts = [self.source, self.title, self.rule, self.rule_id, self.rule_name, self.product, self.event_id]
        texts += self.categories
        texts += [text for obs in self.observables for text in (obs.value, obs.role)]
        for text in texts:
            if text is not None and not is_unicode(text):
                raise ValueError(f"{text[:40]!r}: not valid Unicode text (lone surrogate)")
        return self

    @field_serializer("severity")
    def _severity_out(self, value: Severity) -> int:
        return int(value)

    def primary_observable(self) -> Observable | None:
        """The observable an analyst would pivot on first: the source IP, else the first host, else any."""
        for kind, role in (
            (ObservableType.IP, "src"),
            (ObservableType.HOSTNAME, None),
            (ObservableType.USER, None),
            (ObservableType.IP, None),
        ):
            for obs in self.observables:
                if obs.type is kind and (role is None or obs.role == role):
                    return obs
        return self.observables[0] if self.observables else None


# A fingerprint (services/correlation.py) is `<event>.<content>` when the sender gave an event id, else `<content>`:
# the workflow tells another alert that reused an id from a re-delivery by the event part.
FINGERPRINT_PARTS = "."


def fingerprint_event(fingerprint: str) -> str | None:
    """The part of a fingerprint that names the sender's event id; None for an alert without one."""
    event, separator, _ = fingerprint.partition(FINGERPRINT_PARTS)
    return event if separator else None


class AlertEnvelope(BaseModel):
    """An alert as handed to an incident: with its fingerprint and when we received it."""

    alert: Alert
    fingerprint: str
    received_at: datetime
    reuses_event_id: bool = Field(
        False, description="the intake saw the sender's event id before on an alert with other content"
    )
