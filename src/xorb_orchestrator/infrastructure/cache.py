"""Redis: a fast read cache of incident state. Temporal is the truth; this may be flushed any time."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from xorb_orchestrator.models.incident import IncidentView

log = logging.getLogger(__name__)

_KEY = "xorb:incident:{}"
_SEEN = "xorb:alert-seen:{}"
_OPEN = "xorb:open-incident:{}"
_TTL_SECONDS = 7 * 24 * 3600
# How long a delivered alert's fingerprint is remembered, to refuse re-deliveries after its incident closed.
SEEN_TTL_SECONDS = 24 * 3600

# Write only if newer: activities may be retried and race, and an old view must never win.
_SET_IF_NEWER = """
local current = redis.call('HGET', KEYS[1], 'revision')
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'revision', ARGV[1], 'view', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class IncidentCache:
    def __init__(self, url: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._set_if_newer = self._redis.register_script(_SET_IF_NEWER)

    async def put(self, view: IncidentView) -> bool:
        """Store a view unless a newer revision is already there. Raises RedisError when Redis is down."""
        stored = await self._set_if_newer(
            keys=[_KEY.format(view.incident_id)],
            args=[view.revision, view.model_dump_json(), _TTL_SECONDS],
        )
        return bool(stored)

    async def get_many(self, incident_ids: list[str]) -> dict[str, IncidentView]:
        """Cached views by id; a miss, a bad entry or Redis being down all just mean 'not cached'."""
        if not incident_ids:
            return {}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for incident_id in incident_ids:
                    pipe.hget(_KEY.format(incident_id), "view")
                raw = await pipe.execute()
        except RedisError as exc:
            log.warning("incident cache unavailable, reading from Temporal: %s", exc)
            return {}
        out = {}
        for incident_id, blob in zip(incident_ids, raw, strict=True):
            if blob:
                try:
                    out[incident_id] = IncidentView.model_validate_json(blob)
                except ValueError:
                    log.warning("ignoring unreadable cache entry", extra={"incident_id": incident_id})
        return out

    async def delivery_facts(self, fingerprints: list[str], keys: list[str]) -> tuple[dict[str, str], dict[str, str]]:
        """Of these fingerprints, those already delivered (with their incident); and for these correlation keys,
        the incident that took their last alert while its window lasts. One MGET: the intake asks both for every
        request, and each round trip to Redis was a tenth of its CPU in a storm."""
        unique = list(dict.fromkeys(keys))
        names = [_SEEN.format(f) for f in fingerprints] + [_OPEN.format(k) for k in unique]
        if not names:
            return {}, {}
        values = await self._redis.mget(names)
        split = len(fingerprints)
        seen = {f: _text(v) for f, v in zip(fingerprints, values[:split], strict=True) if v}
        opened = {k: _text(v) for k, v in zip(unique, values[split:], strict=True) if v}
        return seen, opened

    async def remember(self, delivered: dict[str, str], by_key: dict[str, str], window_seconds: float) -> None:
        """Record delivered fingerprints (to refuse re-deliveries) and each key's open incident."""
        if not delivered and not by_key:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for alert_print, incident_id in delivered.items():
                pipe.set(_SEEN.format(alert_print), incident_id, ex=SEEN_TTL_SECONDS)
            if window_seconds:
                for key, incident_id in by_key.items():
                    pipe.set(_OPEN.format(key), incident_id, ex=max(1, int(window_seconds)))
            await pipe.execute()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except RedisError:
            return False

    async def close(self) -> None:
        await self._redis.aclose()
