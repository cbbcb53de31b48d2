"""Secrets from their references (`env:NAME`, `file:/path`), read at the moment they are used.

A value goes straight onto one request and is never kept on an object that is logged, returned or stored in
Temporal: every message here names the reference, never what it holds. The environment is read here rather than
through config/ because a reference names a variable of the operator's choosing, resolved per call so that a
rotated secret takes effect without a restart.
"""

from __future__ import annotations

import os
import re

MAX_SECRET_BYTES = 64 * 1024
SECRET_REF = re.compile(r"^(?:env:[A-Za-z_][A-Za-z0-9_]{0,127}|file:/\S{1,1000})$")


class SecretUnavailable(ValueError):
    """The reference cannot give a usable secret; the message names the reference, never a value."""


def check_reference(value: str) -> str:
    """`value` when it is a reference; ValueError (that never repeats the value: it may be the secret) otherwise."""
    if not SECRET_REF.match(value):
        raise ValueError("must be a reference, env:NAME or file:/path, never the secret itself")
    return value


def resolve_secret(ref: str) -> str:
    """The secret `ref` names; SecretUnavailable (naming the reference) when it is missing, empty or unusable."""
    scheme, _, name = ref.partition(":")
    if scheme == "env" and name:
        value = os.environ.get(name)
        if value is None:
            raise SecretUnavailable(f"the secret {ref} is not set: no environment variable {name}")
    elif scheme == "file" and name.startswith("/"):
        value = _read_file(ref, name)
    else:
        # Not echoed: a value that is not a reference may be the secret itself.
        raise SecretUnavailable("a secret must be a reference, env:NAME or file:/path")
    if not value:
        raise SecretUnavailable(f"the secret {ref} is empty")
    # A line break in a header value would split the request; an HTTP client's own error would quote the value.
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise SecretUnavailable(f"the secret {ref} holds a line break or another control character")
    return value


def _read_file(ref: str, path: str) -> str:
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_SECRET_BYTES + 1)
    except FileNotFoundError:
        raise SecretUnavailable(f"the secret {ref} cannot be read: no such file") from None
    except OSError as error:
        raise SecretUnavailable(f"the secret {ref} cannot be read: {error.strerror or type(error).__name__}") from None
    if len(data) > MAX_SECRET_BYTES:
        raise SecretUnavailable(f"the secret {ref} is longer than {MAX_SECRET_BYTES} bytes")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise SecretUnavailable(f"the secret {ref} is not UTF-8 text") from None
    # Editors and `echo` end a file with a newline that is not part of the secret.
    return text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
