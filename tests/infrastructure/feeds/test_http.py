"""Fetching feed documents: credentials on the request, a size cap, and failures that say whether to retry —
named by scheme://host/path, never by the query string or a credential."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from tests.infrastructure.feeds.conftest import TOKEN_VARIABLE
from tests.infrastructure.feeds.servers import Answer, FeedServer
from xorb_orchestrator.infrastructure.feeds.base import FeedNotFound, FeedRejected, FeedUnavailable
from xorb_orchestrator.infrastructure.feeds.http import FeedClient, read_file, retry_after_seconds
from xorb_orchestrator.infrastructure.ports import free_port
from xorb_orchestrator.intel.feeds_config import AuthType, FeedAuth

QUERY_KEY = "qk-" + "0e4f81aa"
BEARER = FeedAuth(type=AuthType.BEARER, token=f"env:{TOKEN_VARIABLE}")
BASIC = FeedAuth(type=AuthType.BASIC, token=f"env:{TOKEN_VARIABLE}", username="soc")
KEY_HEADER = FeedAuth(type=AuthType.HEADER, token=f"env:{TOKEN_VARIABLE}", header="X-Api-Key")


@pytest_asyncio.fixture
async def client() -> AsyncIterator[FeedClient]:
    http = FeedClient()
    try:
        yield http
    finally:
        await http.aclose()


async def test_each_auth_type_puts_the_secret_on_the_request(
    feed_server: FeedServer, client: FeedClient, token: str
) -> None:
    url = feed_server.document("/feed.csv", "198.51.100.1\n")
    for auth in (BEARER, BASIC, KEY_HEADER, None):
        assert (await client.get(url, auth)).body == b"198.51.100.1\n"
    bearer, basic, header, anonymous = (seen.headers for seen in feed_server.requests_for("/feed.csv"))
    assert bearer["Authorization"] == f"Bearer {token}"
    assert basic["Authorization"] == "Basic " + base64.b64encode(f"soc:{token}".encode()).decode()
    assert header["X-Api-Key"] == token
    assert "Authorization" not in header and "Authorization" not in anonymous and "X-Api-Key" not in anonymous


async def test_failures_say_whether_to_retry_and_never_show_the_secret(
    feed_server: FeedServer, client: FeedClient, token: str
) -> None:
    feed_server.answer("/gone.csv", Answer(b"no such list", 404))
    feed_server.answer("/denied.csv", Answer(b'{"error": "bad key"}', 401))
    feed_server.answer("/busy.csv", Answer(b"maintenance", 503, {"Retry-After": "120"}))
    feed_server.answer("/slow-down.csv", Answer(b"", 429))
    feed_server.answer("/cut.csv", Answer(b"198.51.100.1\n" * 1000, cut_after=100))
    base = feed_server.url
    expected = {
        "/gone.csv": (FeedNotFound, f"GET {base}/gone.csv answered 404 Not Found"),
        "/denied.csv": (FeedRejected, f"GET {base}/denied.csv answered 401 Unauthorized: check the feed's credentials"),
        "/busy.csv": (
            FeedUnavailable,
            f"GET {base}/busy.csv answered 503 Service Unavailable; the server asks to retry after 120 s",
        ),
        "/slow-down.csv": (FeedUnavailable, f"GET {base}/slow-down.csv answered 429 Too Many Requests"),
        "/cut.csv": (FeedUnavailable, f"GET {base}/cut.csv: the transfer broke off (RemoteProtocolError)"),
    }
    messages = []
    for path, (kind, message) in expected.items():
        for auth in (BEARER, KEY_HEADER):
            with pytest.raises(kind) as caught:
                await client.get(f"{base}{path}?key={QUERY_KEY}&format=csv", auth)
            assert type(caught.value) is kind
            assert str(caught.value) == message
            messages.append(str(caught.value))
    closed = f"http://127.0.0.1:{free_port()}/feed.csv?key={QUERY_KEY}"
    with pytest.raises(FeedUnavailable) as caught:
        await client.get(closed, BEARER)
    messages.append(str(caught.value))
    assert str(caught.value) == f"GET {closed.split('?')[0]}: cannot connect (ConnectError)"
    assert not any(token in message or QUERY_KEY in message for message in messages)


async def test_a_document_over_the_cap_is_refused_whether_or_not_its_length_is_declared(
    feed_server: FeedServer, client: FeedClient
) -> None:
    body = b"203.0.113.9\n" * 500  # 6,000 bytes
    declared = feed_server.answer("/declared.txt", Answer(body))
    streamed = feed_server.answer("/streamed.txt", Answer(body, declare_length=False))
    with pytest.raises(FeedRejected) as caught:
        await client.get(declared, None, limit=4096)
    assert str(caught.value) == f"GET {declared}: the document is 6000 bytes, more than the 4096 bytes limit"
    with pytest.raises(FeedRejected) as caught:
        await client.get(streamed, None, limit=4096)
    assert str(caught.value) == f"GET {streamed}: the document is larger than the 4096 bytes limit"
    assert (await client.get(streamed, None, limit=6000)).body == body


async def test_credentials_follow_a_redirect_only_to_the_same_origin(
    feed_server: FeedServer, client: FeedClient, token: str
) -> None:
    other = FeedServer().start()
    try:
        elsewhere = other.document("/mirror.csv", "192.0.2.1\n")
        feed_server.answer("/moved.csv", Answer(status=302, headers={"Location": elsewhere}))
        feed_server.answer("/renamed.csv", Answer(status=301, headers={"Location": "/feed.csv"}))
        feed_server.document("/feed.csv", "192.0.2.2\n")
        for auth in (BEARER, KEY_HEADER):
            assert (await client.get(f"{feed_server.url}/moved.csv", auth)).body == b"192.0.2.1\n"
            assert (await client.get(f"{feed_server.url}/renamed.csv", auth)).body == b"192.0.2.2\n"
        mirrored = [seen.headers for seen in other.requests_for("/mirror.csv")]
        assert len(mirrored) == 2 and not any("Authorization" in h or "X-Api-Key" in h for h in mirrored)
        same_origin = [seen.headers for seen in feed_server.requests_for("/feed.csv")]
        assert [h.get("Authorization") or h.get("X-Api-Key") for h in same_origin] == [f"Bearer {token}", token]
    finally:
        other.stop()


async def test_a_redirect_loop_ends_after_five_hops(feed_server: FeedServer, client: FeedClient) -> None:
    loop = feed_server.answer("/loop", Answer(status=307, headers={"Location": "/loop"}))
    with pytest.raises(FeedRejected, match="more than 5 redirects"):
        await client.get(loop, None)
    assert len(feed_server.requests_for("/loop")) == 6


async def test_a_missing_secret_is_refused_before_anything_is_sent(
    feed_server: FeedServer, client: FeedClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_VARIABLE, raising=False)
    url = feed_server.document("/feed.csv", "198.51.100.1\n")
    with pytest.raises(FeedRejected, match=f"the secret env:{TOKEN_VARIABLE} is not set"):
        await client.get(url, BEARER)
    assert feed_server.seen == []


async def test_a_file_feed_is_read_from_disk_with_the_same_cap(tmp_path: Path, client: FeedClient) -> None:
    feed = tmp_path / "blocklist.txt"
    feed.write_text("198.51.100.0/24\n" * 100)
    assert await client.read(str(feed), None) == feed.read_bytes()
    with pytest.raises(FeedRejected) as caught:
        await read_file(str(feed), limit=1000)
    assert str(caught.value) == f"{feed} is larger than 1000 bytes, the limit for one feed document"
    with pytest.raises(FeedNotFound, match=f"no file at {tmp_path}/absent.txt"):
        await client.read(f"{tmp_path}/absent.txt", None)
    with pytest.raises(FeedRejected, match="is a directory"):
        await client.read(str(tmp_path), None)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2024, 1, 15, 8, 0, tzinfo=UTC)
    assert retry_after_seconds("90", now) == 90
    assert retry_after_seconds("Mon, 15 Jan 2024 08:05:00 GMT", now) == 300
    assert retry_after_seconds("Mon, 15 Jan 2024 07:00:00 GMT", now) == 0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
