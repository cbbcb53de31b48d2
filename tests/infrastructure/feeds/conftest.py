"""A feed server per test, and the token the feeds' credential references point at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.infrastructure.feeds.servers import FeedServer

TOKEN = "tok-" + "5b1d0c7e9a" + "-never-shown"
TOKEN_VARIABLE = "XORB_TEST_FEED_TOKEN"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The secret behind `env:XORB_TEST_FEED_TOKEN`."""
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    return TOKEN
