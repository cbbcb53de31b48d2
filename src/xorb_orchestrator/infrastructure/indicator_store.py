"""The indicator store: what every feed says about every indicator, in the deployment's Redis.

Feeds are the truth; this store can be flushed and rebuilt by a full sync of each feed. Key layout (prefix P,
`xorb:ti:` by default; <value> is canonical, see intel.verdicts.canonical_value):

    P v:<kind>:<value>   hash  source -> SourceVerdict JSON             one key per indicator, a field per source
    P src:<source>       hash  "<kind>:<value>" -> id of the sync that last saw it (list, sweep, remove a source)
    P nets:<kind>        hash  prefix length -> count of (source, network) entries     ipv4 and ipv6 only
    P feed:<source>      hash  the feed's sync status (FeedStatus)
    P feeds              set   the sources with a status

A lookup is one pipelined round trip: the prefix lengths present are cached here and re-read in that same round
trip; only when a new length appeared since the last lookup does a second, small round trip fetch the networks of
that length. Pages are applied read-then-write under WATCH (see apply_page); sweeping is a Lua script. No key has
a Redis TTL: whether an entry is still true depends on when one asks and on the configured lifetimes, so expiry is
decided at lookup; entries leave when their feed stops listing them (finish_sync) or is removed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import cast

import redis.asyncio as aioredis
from pydantic import BaseModel, Field, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from xorb_orchestrator.intel.decay import Decay, Lifetimes
from xorb_orchestrator.intel.verdicts import (
    DEFAULT_HIT_THRESHOLD,
    canonical_value,
    combine,
    merge,
    parent_domains,
)
from xorb_orchestrator.models.verdict import IndicatorKind, SourceVerdict, Verdict

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "xorb:ti:"
MAX_PAGE = 1000  # verdicts per apply_page: one WATCH over at most this many keys, one MULTI/EXEC
MAX_LOOKUP = 1000  # observables per lookup
MAX_SYNC_ID_CHARS = 200
MAX_ERROR_CHARS = 500
MAX_REJECTED_REASONS = 20
_SWEEP_BATCH = 500
_WATCH_ATTEMPTS = 8
_NETWORK_KINDS = (IndicatorKind.IPV4, IndicatorKind.IPV6)

# Read this source's verdict and sync mark for each value of a page, in one round trip on the watched connection.
_READ_PAGE = """
local out = {}
for i = 2, #KEYS do
  out[#out + 1] = redis.call('HGET', KEYS[i], ARGV[1]) or false
  out[#out + 1] = redis.call('HGET', KEYS[1], ARGV[i]) or false
end
return out
"""

# Remove a source's entries not seen by this sync; nothing unless this sync is still the running one.
# KEYS: status, index, nets:ipv4, nets:ipv6, value keys...; ARGV: source, sync id, members... (member = kind:value)
_SWEEP = """
if redis.call('HGET', KEYS[1], 'running_sync') ~= ARGV[2] then return -1 end
local removed = 0
for i = 5, #KEYS do
  local member = ARGV[i - 2]
  local mark = redis.call('HGET', KEYS[2], member)
  if mark and mark ~= ARGV[2] then
    redis.call('HDEL', KEYS[i], ARGV[1])
    redis.call('HDEL', KEYS[2], member)
    local kind, value = string.match(member, '^([^:]+):(.*)$')
    local plen = string.match(value, '/(%d+)$')
    if plen and (kind == 'ipv4' or kind == 'ipv6') then
      local nets = kind == 'ipv4' and KEYS[3] or KEYS[4]
      if redis.call('HINCRBY', nets, plen, -1) <= 0 then redis.call('HDEL', nets, plen) end
    end
    removed = removed + 1
  end
end
if removed > 0 then redis.call('HINCRBY', KEYS[1], 'removed', removed) end
return removed
"""

# Start a sync; a retried start of the running sync keeps its counts.
_BEGIN = """
if redis.call('HGET', KEYS[1], 'running_sync') == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'source', ARGV[3], 'running_sync', ARGV[1], 'started_at', ARGV[2],
           'added', 0, 'updated', 0, 'removed', 0)
redis.call('SADD', KEYS[2], ARGV[3])
return 1
"""

# Give up a failed sync: it no longer runs (what it applied stays, nothing is swept), unless another took over.
_ABANDON = """
if redis.call('HGET', KEYS[1], 'running_sync') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'running_sync')
return 1
"""

# Close the sweep: the sync becomes the last finished one, unless another started meanwhile.
_FINISH = """
if redis.call('HGET', KEYS[1], 'running_sync') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'running_sync')
redis.call('HSET', KEYS[1], 'last_sync', ARGV[1], 'finished_at', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'resume_after', ARGV[3]) end
return 1
"""


class IndicatorStoreError(Exception):
    """The indicator store refused or failed an operation."""


class IndicatorStoreUnavailable(IndicatorStoreError):
    """Redis is unreachable, or too busy to apply a page: retry later."""


class SyncNotRunning(IndicatorStoreError):
    """finish_sync for a sync that is not the feed's running one (never started, or superseded by a newer one)."""


class PageResult(BaseModel):
    """What one applied page changed: entries new to this source, changed, unchanged; values refused and why."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejected_reasons: list[str] = Field(default_factory=list, max_length=MAX_REJECTED_REASONS)


class FeedStatus(BaseModel):
    """A feed's sync state for `xorb ti feeds`. Counts are of the running sync, else of the last one."""

    source: str
    entries: int = 0
    running_sync: str | None = None
    last_sync: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    added: int = 0
    updated: int = 0
    removed: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    resume_after: str | None = Field(None, description="where an incremental feed (TAXII) resumes: date added last")
    progress_at: datetime | None = Field(None, description="when the running sync last applied a page")

    def running_since(self) -> datetime | None:
        """When the running sync last showed life (its last page, else its start); None when none runs."""
        if self.running_sync is None:
            return None
        return max((t for t in (self.progress_at, self.started_at) if t is not None), default=None)


class IndicatorStore:
    """Every source's verdicts per indicator, with batch lookup and mark-and-sweep full syncs."""

    def __init__(self, url: str, *, prefix: str = DEFAULT_PREFIX, socket_timeout: float = 5.0) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout, decode_responses=True
        )
        self._prefix = prefix
        self._sweep = self._redis.register_script(_SWEEP)
        self._begin = self._redis.register_script(_BEGIN)
        self._finish = self._redis.register_script(_FINISH)
        self._abandon = self._redis.register_script(_ABANDON)
        # Prefix lengths of stored networks, per kind, as of the last lookup (refreshed by every lookup).
        self._prefix_lengths: dict[IndicatorKind, frozenset[int]] = {}

    # -- keys

    def _value_key(self, kind: IndicatorKind, value: str) -> str:
        return f"{self._prefix}v:{kind.value}:{value}"

    def _index_key(self, source: str) -> str:
        return f"{self._prefix}src:{source}"

    def _nets_key(self, kind: IndicatorKind) -> str:
        return f"{self._prefix}nets:{kind.value}"

    def _status_key(self, source: str) -> str:
        return f"{self._prefix}feed:{source}"

    @property
    def _feeds_key(self) -> str:
        return f"{self._prefix}feeds"

    # -- lookup

    async def lookup(
        self,
        observables: Sequence[tuple[IndicatorKind, str]],
        now: datetime,
        *,
        lifetimes: Lifetimes | None = None,
        decay: Decay | None = None,
        hit_threshold: int = DEFAULT_HIT_THRESHOLD,
    ) -> list[Verdict]:
        """The combined verdict for each (kind, value), in order; one round trip for the whole batch.

        An address also matches every stored network containing it; a domain also matches known-good entries of
        its parent domains. A value that is not one of its kind gets an empty verdict (no source knows it).
        """
        if len(observables) > MAX_LOOKUP:
            raise ValueError(f"at most {MAX_LOOKUP} values per lookup, not {len(observables)}")
        canonical: list[str | None] = []
        for kind, raw in observables:
            try:
                canonical.append(canonical_value(kind, raw))
            except ValueError:
                canonical.append(None)
        asked = list(zip((kind for kind, _ in observables), canonical, strict=True))
        net_kinds = sorted({kind for kind, value in asked if value and kind in _NETWORK_KINDS})
        cached = {kind: self._prefix_lengths.get(kind, frozenset()) for kind in net_kinds}
        candidates = [_candidates(kind, value, cached) if value else [] for kind, value in asked]
        found: dict[tuple[IndicatorKind, str], dict[str, str]] = {}
        with self._translate_errors():
            present = await self._read(net_kinds, _unique(candidates), found)
            self._prefix_lengths.update(present)
            # A prefix length new since the last lookup: fetch the networks of that length too (rare, small).
            newer = {kind: present[kind] - cached[kind] for kind in net_kinds}
            if any(newer.values()):
                extra = [_networks(kind, value, newer) if value else [] for kind, value in asked]
                candidates = [a + b for a, b in zip(candidates, extra, strict=True)]
                await self._read([], _unique(extra), found)
        verdicts = []
        for (kind, raw), value, group in zip(observables, canonical, candidates, strict=True):
            if value is None:
                verdicts.append(Verdict(kind=kind, value=raw))
                continue
            matches = [match for key in group for match in _parse(key, found.get(key, {}))]
            verdicts.append(
                combine(kind, value, matches, now, lifetimes=lifetimes, decay=decay, hit_threshold=hit_threshold)
            )
        return verdicts

    async def _read(
        self,
        net_kinds: Sequence[IndicatorKind],
        wanted: Sequence[tuple[IndicatorKind, str]],
        found: dict[tuple[IndicatorKind, str], dict[str, str]],
    ) -> dict[IndicatorKind, frozenset[int]]:
        """One pipeline: the prefix lengths of `net_kinds` and every wanted key's fields (into `found`)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for kind in net_kinds:
                pipe.hgetall(self._nets_key(kind))
            for kind, value in wanted:
                pipe.hgetall(self._value_key(kind, value))
            replies = await pipe.execute()
        present = {
            kind: frozenset(int(length) for length, count in reply.items() if int(count) > 0)
            for kind, reply in zip(net_kinds, replies, strict=False)
        }
        for key, reply in zip(wanted, replies[len(net_kinds) :], strict=True):
            found[key] = reply
        return present

    # -- imports

    async def apply_page(self, source: str, verdicts: Sequence[SourceVerdict], *, sync_id: str) -> PageResult:
        """Apply one page of a feed import atomically: all of it or, on any failure, none of it.

        Each verdict is merged with what the source said before (intel.verdicts.merge) and marked as seen by
        `sync_id`. Re-applying a page changes nothing (merge is idempotent), so a failed page is simply retried.
        Values that are not of their kind are refused and counted, not stored.

        Why WATCH and not a Lua script: the merge rules stay in one place (intel.verdicts.merge, pure and tested)
        instead of a second copy in Lua. A page costs three round trips (WATCH, one scripted read of the page's
        entries, MULTI/EXEC); a concurrent write to one of its keys (another feed naming the same indicator)
        makes EXEC fail and the page is re-read and retried, a bounded number of times.
        """
        _check_sync_id(sync_id)
        if len(verdicts) > MAX_PAGE:
            raise ValueError(f"at most {MAX_PAGE} verdicts per page, not {len(verdicts)}")
        result = PageResult()
        incoming: dict[tuple[IndicatorKind, str], list[SourceVerdict]] = {}
        for verdict in verdicts:
            if verdict.source != source:
                raise ValueError(f"a page of {source!r} holds a verdict of {verdict.source!r}")
            try:
                value = canonical_value(verdict.kind, verdict.value)
            except ValueError as exc:
                result.rejected += 1
                if len(result.rejected_reasons) < MAX_REJECTED_REASONS:
                    result.rejected_reasons.append(str(exc)[:MAX_ERROR_CHARS])
                continue
            incoming.setdefault((verdict.kind, value), []).append(verdict.model_copy(update={"value": value}))
        if not incoming:
            return result
        entries = list(incoming)
        keys = [self._value_key(kind, value) for kind, value in entries]
        members = [_member(kind, value) for kind, value in entries]
        with self._translate_errors():
            for attempt in range(_WATCH_ATTEMPTS):
                try:
                    return await self._apply(source, sync_id, incoming, keys, members, result.model_copy(deep=True))
                except WatchError:
                    await asyncio.sleep(0.005 * (attempt + 1))
        raise IndicatorStoreUnavailable(
            f"the indicator store kept changing under a page of {source!r}; retry the page later"
        )

    async def _apply(
        self,
        source: str,
        sync_id: str,
        incoming: dict[tuple[IndicatorKind, str], list[SourceVerdict]],
        keys: list[str],
        members: list[str],
        result: PageResult,
    ) -> PageResult:
        async with self._redis.pipeline(transaction=True) as pipe:
            await pipe.watch(*keys)
            # Executed immediately on the watched connection (before MULTI), so EXEC fails if any key changes.
            stored = await pipe.immediate_execute_command(
                "EVAL", _READ_PAGE, 1 + len(keys), self._index_key(source), *keys, source, *members
            )
            pipe.multi()
            for i, ((kind, value), news) in enumerate(incoming.items()):
                blob, mark = stored[2 * i], stored[2 * i + 1]
                old = SourceVerdict.model_validate_json(blob) if blob else None
                merged = old
                for new in news:
                    merged = merge(merged, new)
                assert merged is not None
                if old is None:
                    result.added += 1
                    if kind in _NETWORK_KINDS and "/" in value:
                        pipe.hincrby(self._nets_key(kind), value.rsplit("/", 1)[1], 1)
                elif merged != old:
                    result.updated += 1
                else:
                    result.unchanged += 1
                if merged != old:
                    pipe.hset(keys[i], source, merged.model_dump_json())
                if mark != sync_id:
                    pipe.hset(self._index_key(source), members[i], sync_id)
            if result.added or result.updated:
                pipe.hincrby(self._status_key(source), "added", result.added)
                pipe.hincrby(self._status_key(source), "updated", result.updated)
                pipe.hsetnx(self._status_key(source), "source", source)
                pipe.sadd(self._feeds_key, source)
            await pipe.execute()
        return result

    async def begin_sync(self, source: str, sync_id: str, *, now: datetime | None = None) -> FeedStatus:
        """Start a full sync of `source`: its counts start at zero. A retried start of the same sync is a no-op."""
        _check_sync_id(sync_id)
        with self._translate_errors():
            await self._begin(keys=[self._status_key(source), self._feeds_key], args=[sync_id, _stamp(now), source])
        return await self.feed(source)

    async def finish_sync(
        self,
        source: str,
        sync_id: str,
        *,
        now: datetime | None = None,
        sweep: bool = True,
        resume_after: str | None = None,
    ) -> FeedStatus:
        """End a sync. A full sync (`sweep`) removes the source's entries it did not see, so dropped indicators
        stop matching; an incremental one (only what is new since `resume_after`) removes nothing. `resume_after`
        is kept for the next incremental sync.

        Only the running sync can finish, so an unfinished or superseded sync never removes anything. A finish
        that failed half way is retried (sweeping is idempotent); a retry after success returns the status.
        """
        _check_sync_id(sync_id)
        status = await self.feed(source)
        if status.running_sync != sync_id:
            if status.last_sync == sync_id:
                return status
            raise SyncNotRunning(f"sync {sync_id!r} of {source!r} is not running (running: {status.running_sync})")
        with self._translate_errors():
            if sweep:
                async for batch in self._stale(source, keep=sync_id):
                    if await self._sweep_batch(source, sync_id, batch) < 0:
                        raise SyncNotRunning(f"sync {sync_id!r} of {source!r} was superseded while it finished")
            args = [sync_id, _stamp(now), resume_after or ""]
            if not await self._finish(keys=[self._status_key(source)], args=args):
                raise SyncNotRunning(f"sync {sync_id!r} of {source!r} was superseded while it finished")
        return await self.feed(source)

    async def mark_progress(self, source: str, *, now: datetime | None = None) -> None:
        """Note that the running sync of `source` applied a page (so another sync knows it is alive)."""
        with self._translate_errors():
            await self._redis.hset(self._status_key(source), "progress_at", _stamp(now))

    async def record_error(
        self, source: str, error: str, *, now: datetime | None = None, sync_id: str | None = None
    ) -> None:
        """Note a failed sync or page on the feed's status (shown by `xorb ti feeds`); with `sync_id`, that sync
        stops being the running one (what it applied stays, nothing is swept), so the next can start at once."""
        with self._translate_errors():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(
                    self._status_key(source),
                    mapping={"source": source, "last_error": error[:MAX_ERROR_CHARS], "last_error_at": _stamp(now)},
                )
                pipe.sadd(self._feeds_key, source)
                await pipe.execute()
            if sync_id is not None:
                await self._abandon(keys=[self._status_key(source)], args=[sync_id])

    async def remove_source(self, source: str) -> int:
        """Remove everything `source` ever stored and its status (a feed taken out of the configuration)."""
        removing = "\x00removing"  # no sync is called this, so every entry is stale to it
        removed = 0
        with self._translate_errors():
            await self._redis.hset(self._status_key(source), "running_sync", removing)
            async for batch in self._stale(source, keep=removing):
                removed += max(0, await self._sweep_batch(source, removing, batch))
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._status_key(source))
                pipe.srem(self._feeds_key, source)
                await pipe.execute()
        return removed

    async def _stale(self, source: str, *, keep: str) -> AsyncIterator[list[str]]:
        """The source's members not marked `keep`, in batches (HSCAN: the index may hold millions)."""
        cursor = 0
        while True:
            cursor, page = await self._redis.hscan(self._index_key(source), cursor, count=_SWEEP_BATCH)
            marks = cast(dict[str, str], page)  # decode_responses: str, not bytes
            stale = [member for member, mark in marks.items() if mark != keep]
            if stale:
                yield stale
            if cursor == 0:
                return

    async def _sweep_batch(self, source: str, sync_id: str, members: list[str]) -> int:
        keys = [
            self._status_key(source),
            self._index_key(source),
            self._nets_key(IndicatorKind.IPV4),
            self._nets_key(IndicatorKind.IPV6),
            *(f"{self._prefix}v:{member}" for member in members),
        ]
        return int(await self._sweep(keys=keys, args=[source, sync_id, *members]))

    # -- reads for operators

    async def values_of(self, source: str) -> AsyncIterator[tuple[IndicatorKind, str]]:
        """Every (kind, value) the source has stored, in no particular order."""
        with self._translate_errors():
            async for member, _ in self._redis.hscan_iter(self._index_key(source), count=_SWEEP_BATCH):
                kind, _, value = member.partition(":")
                yield IndicatorKind(kind), value

    async def feed(self, source: str) -> FeedStatus:
        """The feed's sync status (empty for a feed never synced)."""
        return (await self._statuses([source]))[0]

    async def feeds(self) -> list[FeedStatus]:
        """Every feed with a status, by name."""
        with self._translate_errors():
            names = sorted(cast(set[str], await self._redis.smembers(self._feeds_key)))
        return await self._statuses(names)

    async def _statuses(self, sources: Sequence[str]) -> list[FeedStatus]:
        with self._translate_errors():
            async with self._redis.pipeline(transaction=False) as pipe:
                for source in sources:
                    pipe.hgetall(self._status_key(source))
                    pipe.hlen(self._index_key(source))
                replies = await pipe.execute()
        return [
            FeedStatus.model_validate({**fields, "source": source, "entries": entries})
            for source, fields, entries in zip(sources, replies[::2], replies[1::2], strict=True)
        ]

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
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise IndicatorStoreUnavailable(
                f"the indicator store (Redis) is unreachable: {exc}; check REDIS_URL and that Redis is running"
            ) from exc
        except WatchError:
            raise
        except RedisError as exc:
            raise IndicatorStoreError(f"the indicator store (Redis) refused an operation: {exc}") from exc


def _candidates(
    kind: IndicatorKind, value: str, lengths: dict[IndicatorKind, frozenset[int]]
) -> list[tuple[IndicatorKind, str]]:
    """Stored values that can speak for `value`: itself, its parent domains, its containing networks."""
    if kind is IndicatorKind.DOMAIN:
        return [(kind, value), *((kind, parent) for parent in parent_domains(value))]
    return [(kind, value), *_networks(kind, value, lengths)]


def _networks(
    kind: IndicatorKind, value: str, lengths: dict[IndicatorKind, frozenset[int]]
) -> list[tuple[IndicatorKind, str]]:
    """The networks of the given prefix lengths that contain an address (or a narrower network)."""
    if kind not in _NETWORK_KINDS:
        return []
    network = ipaddress.ip_network(value)
    return [
        (kind, str(network.supernet(new_prefix=length)))
        for length in sorted(lengths.get(kind, frozenset()))
        if length < network.prefixlen
    ]


def _unique(groups: Sequence[Sequence[tuple[IndicatorKind, str]]]) -> list[tuple[IndicatorKind, str]]:
    return list(dict.fromkeys(key for group in groups for key in group))


def _parse(key: tuple[IndicatorKind, str], fields: dict[str, str]) -> Iterator[tuple[str, SourceVerdict]]:
    for source, blob in sorted(fields.items()):
        try:
            yield key[1], SourceVerdict.model_validate_json(blob)
        except ValidationError:
            log.warning("ignoring an unreadable indicator entry", extra={"source": source, "value": key[1]})


def _member(kind: IndicatorKind, value: str) -> str:
    return f"{kind.value}:{value}"


def _stamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).isoformat()


def _check_sync_id(sync_id: str) -> None:
    if not sync_id or len(sync_id) > MAX_SYNC_ID_CHARS or not sync_id.isprintable():
        raise ValueError(f"a sync id must be 1 to {MAX_SYNC_ID_CHARS} printable characters")
