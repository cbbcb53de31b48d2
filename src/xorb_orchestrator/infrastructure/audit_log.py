"""The audit log: an append-only, hash-chained record of every decision and effect, in the deployment's Redis.

Key layout (prefix P, `xorb:` by default):

    P audit        stream  one stream entry per AuditEntry, its canonical JSON in the field `entry`
    P audit:head   string  {"seq", "hash"} of the last entry: what the next one follows

Appends are serialised across processes by an optimistic transaction: WATCH the head and the stream, read them
(one EVAL), build and hash the entry here (Lua has no sha256), then MULTI: XADD + SET head; EXEC. A concurrent
append makes EXEC fail and the append is rebuilt on the new head, so seq and prev never fork. The stream is never
trimmed (no MAXLEN): an audit log that loses its oldest entries silently is not one. Retention is the operator's:
`xorb audit export`, then archive; nothing here deletes.
"""

# Why an anchor file, and not Temporal, to catch a consistent rewrite of the whole stream:
#   Whoever can write to Redis can recompute every hash and rewrite the stream so that it verifies. The anchor is a
#   second copy of the chain's head kept elsewhere: every `anchor_every` entries (and on `anchor_now()`) one line
#   `seq hash at` is appended to a file (O_APPEND, then fsync), and `verify()` checks every line against the stream.
#   - A file works with plain Redis and nothing else running: no extra service on the audit's path.
#   - It survives the loss of Redis: the last anchored head outlives a flushed or replaced Redis.
#   - It ships trivially to WORM storage or a SIEM (an append-only, line-oriented text file: any log shipper tails
#     it), out of reach of whoever operates Redis.
#   - Anchoring in Temporal (an update per anchor to a long-lived workflow) would tie the audit to Temporal being
#     up, grow that workflow's history by events per anchor (continue-as-new to manage), and still sit with the
#     same operators as the rest of the deployment.

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import RedisError, WatchError

from xorb_orchestrator.infrastructure import metrics
from xorb_orchestrator.models.audit import GENESIS, AuditEntry, AuditHead, AuditVerification

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "xorb:"
DEFAULT_ANCHOR_EVERY = 100
PAGE = 500  # stream entries per XRANGE
_FIELD = "entry"
_WATCH_ATTEMPTS = 50
# The head and the stream's length, read together: apart, an append landing between them looks like a lost head.
_READ_HEAD = """
return {redis.call('GET', KEYS[1]) or false, redis.call('XLEN', KEYS[2])}
"""
# What XRANGE answers under decode_responses: (stream id, fields) pairs.
_Page = list[tuple[str, dict[str, str]]]
# `since` starts the stream read this much before `since` by stream id (Redis's clock), then filters by `at`
# (the appender's clock): an appender's clock would have to run this far ahead of Redis's to lose an entry.
_CLOCK_SLACK = timedelta(hours=1)


class AuditError(Exception):
    """The audit log refused an operation (an unreadable entry or head, no anchor file)."""


class AuditUnavailable(AuditError):
    """Redis is unreachable or refused, or appends kept colliding: retry later."""


class AuditLog:
    """Append entries, read them back in order, and verify the chain (and its anchors) end to end."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        anchor_file: Path | None = None,
        anchor_every: int = DEFAULT_ANCHOR_EVERY,
        socket_timeout: float = 5.0,
    ) -> None:
        if anchor_every < 1:
            raise ValueError(f"anchor_every must be at least 1, not {anchor_every}")
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout, decode_responses=True
        )
        self._stream = f"{prefix}audit"
        self._head_key = f"{prefix}audit:head"
        self._anchor_file = anchor_file
        self._anchor_every = anchor_every
        # Appends from this process queue here, so only other processes' appends can collide with one (a storm
        # of concurrent appends would otherwise retry each other out of their bounded tries).
        self._append_lock = asyncio.Lock()

    # -- writing

    async def append(
        self,
        kind: str,
        actor: str,
        subject: str,
        detail: dict[str, Any],
        incident_id: str | None = None,
    ) -> AuditEntry:
        """Record one entry after the current head and return it (with its seq and hash).

        `detail` must be plain JSON (dump receipts and verdicts with `model_dump(mode="json")`), at most 16 KiB;
        a field out of bounds raises ValueError before anything is written. Raises AuditUnavailable when Redis
        fails or appends keep colliding (nothing recorded, unless only EXEC's reply was lost: retrying may then
        record the fact twice, which verifies, rather than not at all).
        """
        async with self._append_lock:
            with self._translate_errors():
                for attempt in range(_WATCH_ATTEMPTS):
                    try:
                        entry = await self._try_append(kind, actor, subject, detail, incident_id)
                        break
                    except WatchError:
                        # Another process appended first: rebuild on its head, after a short random pause.
                        await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))
                else:
                    raise AuditUnavailable(f"audit appends kept colliding ({_WATCH_ATTEMPTS} tries); retry later")
        if self._anchor_file is not None and entry.seq % self._anchor_every == 0:
            try:
                await asyncio.to_thread(_write_anchor, self._anchor_file, entry)
            except OSError as exc:
                # The entry is recorded; failing the call would make the caller record it twice. Say it loudly.
                log.error("could not anchor audit entry %d in %s: %s", entry.seq, self._anchor_file, exc.strerror)
        return entry

    async def _try_append(
        self, kind: str, actor: str, subject: str, detail: dict[str, Any], incident_id: str | None
    ) -> AuditEntry:
        async with self._redis.pipeline(transaction=True) as pipe:
            # The stream is watched too, so the first append cannot race a head that was deleted under entries.
            await pipe.watch(self._head_key, self._stream)
            # Executed at once on the watched connection (before MULTI), so EXEC fails if either key changes.
            raw, length = await pipe.immediate_execute_command("EVAL", _READ_HEAD, 2, self._head_key, self._stream)
            head = _parse_head(raw)
            if head is None and length:
                raise AuditError(
                    "the audit log has entries but no head record; refusing to fork the chain: run `xorb audit verify`"
                )
            entry = AuditEntry.following(
                head, at=datetime.now(UTC), kind=kind, actor=actor, subject=subject, detail=detail,
                incident_id=incident_id,
            )  # fmt: skip
            pipe.multi()
            pipe.xadd(self._stream, {_FIELD: entry.to_json()})
            pipe.set(self._head_key, entry.head.model_dump_json())
            await pipe.execute()
        return entry

    async def anchor_now(self) -> AuditEntry | None:
        """Anchor the last entry now (a line in the anchor file); None when the log is empty."""
        if self._anchor_file is None:
            raise AuditError("no anchor file: set XORB_AUDIT_ANCHOR_FILE")
        with self._translate_errors():
            last = cast(_Page, await self._redis.xrevrange(self._stream, count=1))
        if not last:
            return None
        entry = _parse_entry(*last[0])
        try:
            await asyncio.to_thread(_write_anchor, self._anchor_file, entry)
        except OSError as exc:
            raise AuditError(f"cannot write the audit anchor file {self._anchor_file}: {exc.strerror}") from None
        return entry

    # -- reading

    async def entries(
        self, since: datetime | None = None, after_seq: int = 0, limit: int | None = None
    ) -> AsyncIterator[AuditEntry]:
        """The entries in order: recorded at or after `since`, with seq above `after_seq`, at most `limit`.

        `after_seq` is the exact cursor for shipping (gapless, no duplicates); `since` filters by `at`.
        Raises AuditError for an entry that does not even parse (run `verify` to see where and why).
        """
        start = "-" if since is None else str(max(0, int((since - _CLOCK_SLACK).timestamp() * 1000)))
        given = 0
        async for stream_id, fields in self._walk(start):
            entry = _parse_entry(stream_id, fields)
            if entry.seq <= after_seq or (since is not None and entry.at < since):
                continue
            if limit is not None and given >= limit:
                return
            given += 1
            yield entry

    async def _walk(self, start: str = "-") -> AsyncIterator[tuple[str, dict[str, str]]]:
        """Every stream entry from `start`, in pages; entries appended meanwhile are read too."""
        while True:
            with self._translate_errors():
                page = cast(_Page, await self._redis.xrange(self._stream, min=start, max="+", count=PAGE))
            for stream_id, fields in page:
                yield stream_id, fields
            if len(page) < PAGE:
                return
            start = "(" + page[-1][0]  # exclusive: after the last one read

    # -- verifying

    async def verify(self) -> AuditVerification:
        """Walk the whole log: each hash recomputed, each prev the previous hash, seq gapless from 1, the head
        record agreeing, and every anchor line matching. Names the first bad entry and what is wrong."""
        try:
            anchors = await asyncio.to_thread(_read_anchors, self._anchor_file)
        except AuditError as exc:
            return AuditVerification(ok=False, entries=0, problem=str(exc))
        anchor_lines = sum(len(lines) for lines in anchors.values())
        with self._translate_errors():
            raw_head = cast(
                str | None, await self._redis.get(self._head_key)
            )  # before the walk: appends meanwhile only add
        try:
            head = _parse_head(raw_head)
        except AuditError as exc:
            return AuditVerification(ok=False, entries=0, problem=str(exc))
        previous: AuditEntry | None = None
        count = 0

        def bad(problem: str, seq: int | None, stream_id: str | None) -> AuditVerification:
            good = previous.hash if previous else None
            return AuditVerification(
                ok=False, entries=count, head=good, anchors=anchor_lines, bad_seq=seq, bad_id=stream_id,
                problem=problem,
            )  # fmt: skip

        async for stream_id, fields in self._walk():
            try:
                entry = _parse_entry(stream_id, fields)
            except AuditError as exc:
                return bad(str(exc), None, stream_id)
            problem = _chain_problem(previous, entry) or _anchor_problem(entry, anchors, self._anchor_file)
            if problem is None and head is not None and entry.seq == head.seq and entry.hash != head.hash:
                problem = "hash differs from the head record's (the log was rewritten after it)"
            if problem:
                return bad(problem, entry.seq, stream_id)
            previous, count = entry, count + 1
        last = previous.seq if previous else 0
        beyond = [(seq, line) for seq, lines in anchors.items() if seq > last for line, _ in lines]
        if beyond:
            seq, line = min(beyond)
            return bad(f"anchor line {line} names seq {seq} but the log ends at seq {last} (entries were removed)",
                       seq, None)  # fmt: skip
        if head is None and previous is not None:
            return bad("the head record is missing (deleted?): the next append would fork the chain", None, None)
        if head is not None and head.seq > last:
            return bad(f"an entry was removed after seq {last} (head says {head.seq})", last + 1, None)
        return AuditVerification(ok=True, entries=count, head=previous.hash if previous else None, anchors=anchor_lines)

    # -- lifecycle

    async def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        """Close the connections."""
        await self._redis.aclose()

    @contextmanager
    def _translate_errors(self) -> Iterator[None]:
        try:
            yield
        except WatchError:
            raise
        except RedisError as exc:
            # redis-py's messages name host and port, never the URL's password; one line of it.
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise AuditUnavailable(
                f"the audit log (Redis) is unavailable: {first}; check REDIS_URL and that Redis is running"
            ) from exc


def _chain_problem(previous: AuditEntry | None, entry: AuditEntry) -> str | None:
    """What is wrong with `entry` as the successor of `previous` (None: the first), if anything."""
    last = previous.seq if previous else 0
    if entry.seq != last + 1:
        if entry.seq > last + 2:
            return f"seq {entry.seq} follows {last}: entries {last + 1} to {entry.seq - 1} are missing"
        if entry.seq == last + 2:
            return f"seq {entry.seq} follows {last}: entry {last + 1} is missing"
        return f"seq {entry.seq} follows {last}"
    if entry.compute_hash() != entry.hash:
        return "hash does not match its content"
    if previous is None and entry.prev != GENESIS:
        return "prev of the first entry is not 64 zeros"
    if previous is not None and entry.prev != previous.hash:
        return f"prev does not match entry {previous.seq}'s hash"
    return None


def _anchor_problem(entry: AuditEntry, anchors: dict[int, list[tuple[int, str]]], path: Path | None) -> str | None:
    for line, anchored in anchors.get(entry.seq, []):
        if anchored != entry.hash:
            return f"hash differs from anchor line {line} of {path} (the log was rewritten up to here)"
    return None


def _parse_entry(stream_id: str, fields: dict[str, str]) -> AuditEntry:
    try:
        return AuditEntry.model_validate_json(fields.get(_FIELD, ""))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error.get("loc", ())) or "entry"
        raise AuditError(f"stream entry {stream_id} is unreadable ({where}: {error['msg']})") from None


def _parse_head(raw: str | None) -> AuditHead | None:
    if raw is None:
        return None
    try:
        return AuditHead.model_validate_json(raw)
    except ValidationError:
        raise AuditError("the audit head record is unreadable: run `xorb audit verify`") from None


def _write_anchor(path: Path, entry: AuditEntry) -> None:
    """Append `seq hash at` as one write (O_APPEND: whole lines even with several writers), then fsync."""
    line = f"{entry.seq} {entry.hash} {entry.at.isoformat(timespec='microseconds')}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_anchors(path: Path | None) -> dict[int, list[tuple[int, str]]]:
    """seq -> [(line number, hash)] of every anchor line; a missing file has none yet."""
    anchors: dict[int, list[tuple[int, str]]] = {}
    if path is None:
        return anchors
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return anchors
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditError(f"cannot read the audit anchor file {path}: {exc}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not parts[0].isdigit() or len(parts[1]) != 64 or not _is_time(parts[2]):
            raise AuditError(f"anchor line {number} of {path} is unreadable: {line[:120]!r}")
        anchors.setdefault(int(parts[0]), []).append((number, parts[1]))
    return anchors


def _is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


async def append_or_report(
    audit: AuditLog | None, kind: str, actor: str, subject: str, detail: dict[str, Any], incident_id: str | None
) -> bool:
    """Append, or when the log cannot be written right now (Redis down) say so loudly — an ERROR line naming what
    was not recorded, and xorb_audit_write_failures — and carry on: an outage of the audit's store must not stop
    the response (the same decision is in Temporal's history). Whether it was appended (True without a log)."""
    if audit is None:
        return True
    try:
        await audit.append(kind, actor, subject, detail, incident_id)
    except AuditUnavailable as exc:
        metrics.AUDIT_WRITE_FAILURES.labels(kind).inc()
        log.error("audit log unavailable, %s by %s on %s NOT recorded: %s", kind, actor, subject, exc)
        return False
    return True
