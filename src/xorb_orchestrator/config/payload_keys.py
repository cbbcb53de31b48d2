"""XORB_PAYLOAD_KEYS: the AES keys that encrypt workflow payloads, by key id. Pure; errors never show a key."""

from __future__ import annotations

import base64
import binascii
import re

# AES-128, -192 and -256; 32 bytes is what the docs tell operators to generate.
KEY_SIZES = (16, 24, 32)
# The id travels in clear in every payload's metadata: plain, short names only (an id is never key material).
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def parse_payload_keys(value: str) -> list[tuple[str, bytes]]:
    """'k2:<base64>,k1:<base64>' -> [('k2', key), ('k1', key)]: the first encrypts, all decrypt.

    A ValueError names the entry by its position or id and says what is wrong, never quoting the key. Every
    message says "got ...", so the settings layer does not append the raw value either."""
    keys: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    entries = [part.strip() for part in value.split(",") if part.strip()]
    for position, entry in enumerate(entries, start=1):
        key_id, sep, encoded = (part.strip() for part in entry.partition(":"))
        if not sep or not key_id:
            raise ValueError(f"entry {position}: expected <key id>:<base64 key>, got no key id")
        if not _KEY_ID.fullmatch(key_id):
            # Not quoted: a mangled entry may have the key where the id belongs.
            raise ValueError(
                f"entry {position}: expected a key id of letters, digits, '.', '_' or '-' (at most 64), "
                "got other characters"
            )
        if key_id in seen:
            raise ValueError(f"entry {position}: got key id {key_id!r} a second time; each id names one key")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"key {key_id!r}: expected a base64 key, got text that is not base64") from None
        if len(key) not in KEY_SIZES:
            raise ValueError(f"key {key_id!r}: expected 32 bytes (AES-256; 16 or 24 accepted), got {len(key)} bytes")
        seen.add(key_id)
        keys.append((key_id, key))
    return keys
