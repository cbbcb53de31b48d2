"""The audit trail's data: one entry per decision or effect, each chained to the one before by its sha256.

Pure data. The log itself (Redis stream, anchor file, verification) is infrastructure/audit_log.py; docs/audit.md
says what is recorded.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

GENESIS = "0" * 64  # the `prev` of the first entry
MAX_DETAIL_BYTES = 16 * 1024
_HEX64 = r"^[0-9a-f]{64}$"


def canonical_json(value: Any) -> bytes:
    """The one encoding that is hashed: sorted keys, no spaces, UTF-8 as is, no NaN (not JSON)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


class AuditHead(BaseModel):
    """The last entry's place in the chain: what the next entry follows (kept in Redis next to the stream)."""

    model_config = ConfigDict(frozen=True)

    seq: int = Field(ge=1)
    hash: str = Field(pattern=_HEX64)


class AuditEntry(BaseModel):
    """One audited fact: who (`actor`) did or decided what (`kind`, `subject`, `detail`), when, for which incident.

    `hash` is sha256 over the canonical JSON of every other field (`prev` included), so changing any entry breaks
    its own hash and the `prev` of the entry after it. Adding a field changes every hash: add it to `detail`.
    """

    # extra="forbid": a field slipped into a stored entry would be content outside the hash; it fails to load.
    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = Field(ge=1, description="1, 2, 3 ... with no gap")
    at: datetime = Field(description="when it was recorded, UTC")
    kind: str = Field(
        max_length=40,
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$",
        description="plan, guardrail, approval, autonomy, release, effect; dotted for a sub-kind",
    )
    actor: str = Field(min_length=1, max_length=200, description="a person's name, policy, worker or system")
    incident_id: str | None = Field(None, max_length=300)
    subject: str = Field(max_length=300, description="what it is about: a step key, a containment id")
    detail: dict[str, Any] = Field(default_factory=dict, description=f"JSON, at most {MAX_DETAIL_BYTES} bytes")
    prev: str = Field(pattern=_HEX64, description="the previous entry's hash; 64 zeros for the first")
    hash: str = Field(pattern=_HEX64)

    @field_validator("at")
    @classmethod
    def _utc(cls, at: datetime) -> datetime:
        if at.tzinfo is None:
            raise ValueError("must carry a time zone")
        return at.astimezone(UTC)

    @field_validator("detail")
    @classmethod
    def _plain_json(cls, detail: dict[str, Any]) -> dict[str, Any]:
        try:
            encoded = canonical_json(detail)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"must be plain JSON (dump models to JSON first): {exc}") from None
        if len(encoded) > MAX_DETAIL_BYTES:
            raise ValueError(f"is {len(encoded)} bytes as JSON, over {MAX_DETAIL_BYTES}: record less, or a reference")
        # Keep exactly what a reader of the stored JSON gets back (tuples become lists, int keys strings).
        loaded: dict[str, Any] = json.loads(encoded)
        return loaded

    # Fixed format, not pydantic's default: the hash must not change with a library upgrade.
    @field_serializer("at", when_used="json")
    def _at_text(self, at: datetime) -> str:
        return at.astimezone(UTC).isoformat(timespec="microseconds")

    def compute_hash(self) -> str:
        """sha256 (hex) of the canonical JSON of every field but `hash`."""
        return hashlib.sha256(canonical_json(self.model_dump(mode="json", exclude={"hash"}))).hexdigest()

    def to_json(self) -> str:
        """The entry as stored and exported: canonical JSON, `hash` included."""
        return canonical_json(self.model_dump(mode="json")).decode()

    @property
    def head(self) -> AuditHead:
        return AuditHead(seq=self.seq, hash=self.hash)

    @classmethod
    def following(
        cls,
        previous: AuditEntry | AuditHead | None,
        *,
        at: datetime,
        kind: str,
        actor: str,
        subject: str,
        detail: dict[str, Any] | None = None,
        incident_id: str | None = None,
    ) -> AuditEntry:
        """The entry after `previous` (None: the first), hashed. Raises ValueError for a field out of bounds."""
        fields: dict[str, Any] = {
            "seq": previous.seq + 1 if previous else 1,
            "at": at,
            "kind": kind,
            "actor": actor,
            "incident_id": incident_id,
            "subject": subject,
            "detail": detail or {},
            "prev": previous.hash if previous else GENESIS,
        }
        unhashed = cls.model_validate({**fields, "hash": GENESIS})
        return unhashed.model_copy(update={"hash": unhashed.compute_hash()})


class AuditVerification(BaseModel):
    """What `verify` found: the chain's size and head, or the first bad entry and what is wrong with it."""

    ok: bool
    entries: int = Field(description="entries read (up to the first bad one)")
    head: str | None = Field(None, description="the last good entry's hash")
    anchors: int = Field(0, description="anchor lines checked")
    bad_seq: int | None = Field(None, description="the first bad entry's seq (when known)")
    bad_id: str | None = Field(None, description="its Redis stream id")
    problem: str | None = None

    def summary(self) -> str:
        """One line for people: what was verified, or where the chain breaks."""
        if self.ok:
            head = self.head[:12] if self.head else "none"
            return f"audit chain verified: {self.entries} entries, head {head}, {self.anchors} anchors"
        where = f"entry seq {self.bad_seq}" if self.bad_seq is not None else "the audit log"
        stream_id = f" (stream id {self.bad_id})" if self.bad_id else ""
        return f"audit chain broken at {where}{stream_id}: {self.problem}"
