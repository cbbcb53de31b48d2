"""The payload codec: every workflow payload encrypted with AES-GCM before it reaches Temporal's history.

The whole Payload (its metadata too: the encoding says what kind of value it is) is serialised and encrypted;
the key id travels in clear and is bound to the ciphertext as associated data, so a payload cannot be passed
off as one of another key. Rotation: encrypt with the first key, decrypt with any (config/payload_keys.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12  # GCM's standard nonce, random per payload: fine for 2^32 payloads a key (NIST SP 800-38D)
_TAG_BYTES = 16


class PayloadKeyError(ValueError):
    """An encrypted payload cannot be read: unknown key id, or altered. The message names the key id only."""


class EncryptionCodec(PayloadCodec):
    """AES-GCM over whole payloads, keyed by id: the first key encrypts, every key decrypts."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("the payload codec needs at least one key (XORB_PAYLOAD_KEYS)")
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}
        self.key_id = keys[0][0]

    def __repr__(self) -> str:  # ids only, never key material
        return f"EncryptionCodec(encrypts with {self.key_id!r}, reads {sorted(self._keys)})"

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.key_id].encrypt(nonce, payload.SerializeToString(), self.key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: self.key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        """The original payload; one not encrypted (written before keys were set) passes through as it is."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID, b"")
        key_id = raw_id.decode("utf-8", errors="replace")
        aes = self._keys.get(key_id)
        if aes is None:
            raise PayloadKeyError(
                f"payload encrypted with key id {key_id!r}, which XORB_PAYLOAD_KEYS does not hold; "
                "add that key (after the current one) to read it"
            )
        data = payload.data
        if len(data) < NONCE_BYTES + _TAG_BYTES:
            raise PayloadKeyError(f"payload encrypted with key id {key_id!r} is truncated: it was altered")
        try:
            plain = aes.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], raw_id)
            return Payload.FromString(plain)
        except (InvalidTag, DecodeError):
            raise PayloadKeyError(
                f"payload encrypted with key id {key_id!r} fails authentication: it was altered, "
                "or the key under that id is not the one that encrypted it"
            ) from None
