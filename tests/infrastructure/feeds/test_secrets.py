"""Credential references resolve at call time, and no message ever holds the secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from xorb_orchestrator.infrastructure.feeds.base import FeedRejected
from xorb_orchestrator.infrastructure.feeds.secrets import resolve_secret

SECRET = "s3cr3t-" + "a9d2e71f"


def test_an_environment_reference_reads_the_variable_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XORB_TEST_TI_KEY", SECRET)
    assert resolve_secret("env:XORB_TEST_TI_KEY") == SECRET
    monkeypatch.setenv("XORB_TEST_TI_KEY", SECRET + "-rotated")
    assert resolve_secret("env:XORB_TEST_TI_KEY") == SECRET + "-rotated"


def test_a_file_reference_drops_one_trailing_newline(tmp_path: Path) -> None:
    (tmp_path / "lf").write_text(SECRET + "\n")
    (tmp_path / "crlf").write_bytes(SECRET.encode() + b"\r\n")
    (tmp_path / "bare").write_text(SECRET)
    assert resolve_secret(f"file:{tmp_path}/lf") == SECRET
    assert resolve_secret(f"file:{tmp_path}/crlf") == SECRET
    assert resolve_secret(f"file:{tmp_path}/bare") == SECRET


def test_a_missing_variable_or_file_names_the_reference(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XORB_TEST_TI_MISSING", raising=False)
    with pytest.raises(FeedRejected) as caught:
        resolve_secret("env:XORB_TEST_TI_MISSING")
    assert str(caught.value) == (
        "the secret env:XORB_TEST_TI_MISSING is not set: no environment variable XORB_TEST_TI_MISSING"
    )
    with pytest.raises(FeedRejected) as caught:
        resolve_secret(f"file:{tmp_path}/absent")
    assert str(caught.value) == f"the secret file:{tmp_path}/absent cannot be read: no such file"


def test_unusable_secrets_are_refused_without_repeating_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XORB_TEST_TI_EMPTY", "")
    monkeypatch.setenv("XORB_TEST_TI_SPLIT", SECRET + "\r\nX-Injected: 1")
    (tmp_path / "two-lines").write_text(SECRET + "\n\n")
    messages = []
    for ref in ("env:XORB_TEST_TI_EMPTY", "env:XORB_TEST_TI_SPLIT", f"file:{tmp_path}/two-lines", SECRET):
        with pytest.raises(FeedRejected) as caught:
            resolve_secret(ref)
        messages.append(str(caught.value))
    assert messages == [
        "the secret env:XORB_TEST_TI_EMPTY is empty",
        "the secret env:XORB_TEST_TI_SPLIT holds a line break or another control character",
        f"the secret file:{tmp_path}/two-lines holds a line break or another control character",
        "a feed secret must be a reference, env:NAME or file:/path",
    ]
    assert not any(SECRET in message for message in messages)
