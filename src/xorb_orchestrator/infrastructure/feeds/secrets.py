"""Feed credentials from their references (`env:NAME`, `file:/path`), read at the moment a request is made.

The value goes straight onto one request and is never kept on a reader, a page or an error: every message here
names the reference, never what it holds. The environment is read here rather than through config/ because a
reference names a variable of the operator's choosing, resolved per call so that a rotated secret takes effect
without a restart.
"""

from __future__ import annotations

import os

from xorb_orchestrator.infrastructure.feeds.base import FeedRejected

MAX_SECRET_BYTES = 64 * 1024


def resolve_secret(ref: str) -> str:
    """The secret `ref` names; FeedRejected (naming the reference) when it is missing, empty or unusable."""
    scheme, _, name = ref.partition(":")
    if scheme == "env" and name:
        value = os.environ.get(name)
        if value is None:
            raise FeedRejected(f"the secret {ref} is not set: no environment variable {name}")
    elif scheme == "file" and name.startswith("/"):
        value = _read_file(ref, name)
    else:
        # Not echoed: a value that is not a reference may be the secret itself.
        raise FeedRejected("a feed secret must be a reference, env:NAME or file:/path")
    if not value:
        raise FeedRejected(f"the secret {ref} is empty")
    # A line break in a header value would split the request; httpx's own error would quote the value.
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise FeedRejected(f"the secret {ref} holds a line break or another control character")
    return value


def _read_file(ref: str, path: str) -> str:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_SECRET_BYTES + 1)
    except FileNotFoundError:
        raise FeedRejected(f"the secret {ref} cannot be read: no such file") from None
    except OSError as error:
        raise FeedRejected(f"the secret {ref} cannot be read: {error.strerror or type(error).__name__}") from None
    if len(data) > MAX_SECRET_BYTES:
        raise FeedRejected(f"the secret {ref} is longer than {MAX_SECRET_BYTES} bytes")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise FeedRejected(f"the secret {ref} is not UTF-8 text") from None
    # Editors and `echo` end a file with a newline that is not part of the secret.
    return text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
