"""The audit log against a real Redis: the chain, concurrent appends, tampering caught, anchors, export, the CLI."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from typer.testing import CliRunner

from tests.support.stack import RedisServer
from xorb_orchestrator.cli.main import app
from xorb_orchestrator.infrastructure.audit_log import AuditLog, AuditUnavailable
from xorb_orchestrator.infrastructure.ports import free_port
from xorb_orchestrator.models.audit import GENESIS, AuditEntry

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex[:8]}:"


@pytest_asyncio.fixture
async def audit(redis_server: RedisServer, prefix: str, tmp_path: Path) -> AsyncIterator[AuditLog]:
    log = AuditLog(redis_server.url, prefix=prefix, anchor_file=tmp_path / "anchors", anchor_every=5)
    yield log
    await log.close()


async def fill(audit: AuditLog, count: int) -> list[AuditEntry]:
    return [
        await audit.append("effect", "worker", f"step-{n}", {"n": n, "receipt": {"tool": "nftables"}}, "inc-1")
        for n in range(1, count + 1)
    ]


async def rewrite(url: str, stream: str, change: Any) -> None:
    """Replace the stream by `change(entries)` (a list of entry dicts, or of None to drop), as an attacker would."""
    client = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        stored = [json.loads(fields["entry"]) for _, fields in await client.xrange(stream)]
        await client.delete(stream)
        for entry in change(stored):
            if entry is not None:
                await client.xadd(stream, {"entry": json.dumps(entry)})
    finally:
        await client.aclose()


def rehash(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recompute every hash and prev: a consistent rewrite only an anchor can catch."""
    prev = GENESIS
    out = []
    for fields in entries:
        entry = AuditEntry.model_validate({**fields, "prev": prev, "hash": GENESIS})
        entry = entry.model_copy(update={"hash": entry.compute_hash()})
        prev = entry.hash
        out.append(json.loads(entry.to_json()))
    return out


async def test_appends_chain(audit: AuditLog) -> None:
    entries = await fill(audit, 3)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev == GENESIS
    assert [e.prev for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert all(e.hash == e.compute_hash() and e.at.tzinfo is UTC for e in entries)
    assert [e async for e in audit.entries()] == entries
    assert [e.seq async for e in audit.entries(after_seq=1, limit=1)] == [2]
    result = await audit.verify()
    assert result.ok and result.entries == 3 and result.head == entries[-1].hash


async def test_bad_entries_are_refused_before_anything_is_written(audit: AuditLog) -> None:
    with pytest.raises(ValueError, match="kind"):
        await audit.append("Plan!", "policy", "x", {})
    with pytest.raises(ValueError, match="plain JSON"):
        await audit.append("plan", "policy", "x", {"at": datetime.now(UTC)})
    with pytest.raises(ValueError, match="over 16384"):
        await audit.append("plan", "policy", "x", {"blob": "x" * 17_000})
    assert (await audit.verify()).entries == 0


async def test_concurrent_appends_from_separate_logs_never_fork(redis_server: RedisServer, prefix: str) -> None:
    logs = [AuditLog(redis_server.url, prefix=prefix) for _ in range(4)]
    try:
        made = await asyncio.gather(
            *(logs[i % 4].append("guardrail", "policy", f"step-{i}", {"i": i}) for i in range(20))
        )
        assert sorted(e.seq for e in made) == list(range(1, 21))
        stored = [e async for e in logs[0].entries()]
        assert [e.seq for e in stored] == list(range(1, 21))
        assert sorted(stored, key=lambda e: e.seq) == sorted(made, key=lambda e: e.seq)
        result = await logs[1].verify()
        assert result.ok and result.entries == 20, result.summary()
    finally:
        for log in logs:
            await log.close()


async def test_an_edited_entry_is_named(audit: AuditLog, redis_server: RedisServer, prefix: str) -> None:
    await fill(audit, 10)

    def edit(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        entries[6]["detail"]["receipt"]["tool"] = "nftablez"  # one character of entry 7
        return entries

    await rewrite(redis_server.url, f"{prefix}audit", edit)
    result = await audit.verify()
    assert not result.ok and result.bad_seq == 7 and result.bad_id
    assert result.problem == "hash does not match its content"
    assert result.entries == 6
    assert "seq 7" in result.summary() and result.bad_id in result.summary()


async def test_a_removed_entry_is_named(audit: AuditLog, redis_server: RedisServer, prefix: str) -> None:
    await fill(audit, 10)
    await rewrite(redis_server.url, f"{prefix}audit", lambda entries: [e if e["seq"] != 4 else None for e in entries])
    result = await audit.verify()
    assert (result.ok, result.bad_seq, result.problem) == (False, 5, "seq 5 follows 3: entry 4 is missing")


async def test_a_removed_last_entry_is_named_by_the_head(
    audit: AuditLog, redis_server: RedisServer, prefix: str
) -> None:
    await fill(audit, 8)
    await rewrite(redis_server.url, f"{prefix}audit", lambda entries: entries[:-1])
    result = await audit.verify()
    assert (result.ok, result.problem) == (False, "an entry was removed after seq 7 (head says 8)")


async def test_a_consistent_rewrite_is_caught_by_the_anchor(
    audit: AuditLog, redis_server: RedisServer, prefix: str, tmp_path: Path
) -> None:
    await fill(audit, 12)
    anchors = (tmp_path / "anchors").read_text().splitlines()
    assert [line.split()[0] for line in anchors] == ["5", "10"]

    def forge(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        entries[6]["detail"]["n"] = 700
        return rehash(entries)

    await rewrite(redis_server.url, f"{prefix}audit", forge)
    # The forger keeps the head record in step too; only the anchor file remembers the truth.
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    last = json.loads((await client.xrevrange(f"{prefix}audit", count=1))[0][1]["entry"])
    await client.set(f"{prefix}audit:head", json.dumps({"seq": last["seq"], "hash": last["hash"]}))
    await client.aclose()
    without_anchor = AuditLog(redis_server.url, prefix=prefix)
    assert (await without_anchor.verify()).ok
    await without_anchor.close()

    result = await audit.verify()
    assert not result.ok and result.bad_seq == 10
    assert result.problem and result.problem.startswith("hash differs from anchor line 2 of")


async def test_anchor_now_and_a_truncated_log(audit: AuditLog, redis_server: RedisServer, prefix: str) -> None:
    await fill(audit, 3)
    anchored = await audit.anchor_now()
    assert anchored is not None and anchored.seq == 3
    result = await audit.verify()
    assert result.ok and result.anchors == 1
    client = aioredis.Redis.from_url(redis_server.url)
    await client.delete(f"{prefix}audit", f"{prefix}audit:head")  # the whole log gone, head too
    await client.aclose()
    result = await audit.verify()
    assert (result.ok, result.bad_seq) == (False, 3)
    assert "log ends at seq 0" in (result.problem or "")


async def test_export_since_filters_by_time(audit: AuditLog) -> None:
    await fill(audit, 3)
    await asyncio.sleep(0.02)
    cut = datetime.now(UTC)
    await asyncio.sleep(0.02)
    later = await fill(audit, 2)
    assert [e async for e in audit.entries(since=cut)] == later
    assert [e async for e in audit.entries(since=cut + timedelta(hours=1))] == []


async def test_redis_down_is_one_line() -> None:
    log = AuditLog(f"redis://:s3cret@127.0.0.1:{free_port()}/0", socket_timeout=1)
    try:
        with pytest.raises(AuditUnavailable) as caught:
            await log.append("plan", "policy", "x", {})
    finally:
        await log.close()
    assert "\n" not in str(caught.value) and "s3cret" not in str(caught.value)


# -- the CLI (default prefix; a database of its own so nothing else shares its keys)


def cli_url(redis_server: RedisServer, db: int) -> str:
    return redis_server.url.rsplit("/", 1)[0] + f"/{db}"


async def fresh(url: str, count: int, anchor_file: Path | None = None) -> None:
    client = aioredis.Redis.from_url(url)
    await client.flushdb()
    await client.aclose()
    log = AuditLog(url, anchor_file=anchor_file, anchor_every=4)
    await fill(log, count)
    await log.close()


def test_cli_verify(redis_server: RedisServer, tmp_path: Path) -> None:
    url = cli_url(redis_server, 11)
    anchors = tmp_path / "anchors"
    asyncio.run(fresh(url, 9, anchors))
    env = {"REDIS_URL": url, "XORB_AUDIT_ANCHOR_FILE": str(anchors)}
    result = CliRunner().invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("audit chain verified: 9 entries, head ") and result.output.endswith(
        ", 2 anchors\n"
    )

    def edit(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        entries[6]["actor"] = "mallory"
        return entries

    asyncio.run(rewrite(url, "xorb:audit", edit))
    result = CliRunner().invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "entry seq 7" in result.output and "hash does not match its content" in result.output


def test_cli_export(redis_server: RedisServer, tmp_path: Path) -> None:
    url = cli_url(redis_server, 12)
    asyncio.run(fresh(url, 5))
    env = {"REDIS_URL": url}
    result = CliRunner().invoke(app, ["audit", "export"], env=env)
    assert result.exit_code == 0, result.output
    entries = [AuditEntry.model_validate_json(line) for line in result.stdout.splitlines()]
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5] and all(e.hash == e.compute_hash() for e in entries)

    out = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(app, ["audit", "export", "--since", "1h", "--after-seq", "3", "--output", str(out)],
                                env=env)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["seq"] for line in out.read_text().splitlines()] == [4, 5]

    future = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    result = CliRunner().invoke(app, ["audit", "export", "--since", future], env=env)
    assert (result.exit_code, result.stdout) == (0, "")
    result = CliRunner().invoke(app, ["audit", "export", "--since", "yesterday"], env=env)
    assert result.exit_code == 2 and "--since" in result.output


def test_cli_redis_down(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "verify"], env={"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert result.exit_code == 1 and result.output.startswith("xorb: error: the audit log (Redis) is unavailable")
    assert result.output.count("\n") == 1
