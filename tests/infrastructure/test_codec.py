"""The payload codec: AES-GCM over whole payloads, keys by id, rotation, and no key material in any message."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import ApplicationError

from xorb_orchestrator.config import Settings, SettingsError, load_settings
from xorb_orchestrator.config.payload_keys import parse_payload_keys
from xorb_orchestrator.infrastructure.codec import ENCODING, KEY_ID, EncryptionCodec, PayloadKeyError
from xorb_orchestrator.infrastructure.temporal import data_converter

OLD = os.urandom(32)
NEW = os.urandom(32)


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


@pytest.fixture(autouse=True)
def no_payload_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XORB_PAYLOAD_KEYS", raising=False)


async def test_round_trip_keeps_the_whole_payload_and_hides_its_data() -> None:
    codec = EncryptionCodec([("k1", NEW)])
    original = plain("canary-round-trip")
    [sealed] = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"k1"
    assert b"canary" not in sealed.SerializeToString()
    assert b"json/plain" not in sealed.SerializeToString()  # the inner metadata is encrypted too
    [again] = await codec.encode([original])
    assert again.data[:12] != sealed.data[:12]  # a fresh nonce every time
    assert await codec.decode([sealed, again]) == [original, original]


async def test_payloads_written_before_keys_were_set_pass_through() -> None:
    codec = EncryptionCodec([("k1", NEW)])
    old = plain("written in clear")
    assert await codec.decode([old]) == [old]


async def test_rotation_new_key_first_reads_old_payloads_and_writes_with_the_new_id() -> None:
    [written_before] = await EncryptionCodec([("k1", OLD)]).encode([plain("before rotation")])
    rotated = EncryptionCodec(parse_payload_keys(f"k2:{b64(NEW)}, k1:{b64(OLD)}"))
    assert await rotated.decode([written_before]) == [plain("before rotation")]
    [written_after] = await rotated.encode([plain("after rotation")])
    assert written_after.metadata[KEY_ID] == b"k2"
    assert await rotated.decode([written_after]) == [plain("after rotation")]


async def test_an_unknown_key_id_is_named_and_the_key_is_not() -> None:
    [sealed] = await EncryptionCodec([("k0", OLD)]).encode([plain("x")])
    with pytest.raises(PayloadKeyError, match="key id 'k0', which XORB_PAYLOAD_KEYS does not hold") as caught:
        await EncryptionCodec([("k1", NEW)]).decode([sealed])
    assert_no_key(str(caught.value), OLD, NEW)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda data: data[:-1] + bytes([data[-1] ^ 1]), id="flipped-tag-bit"),
        pytest.param(lambda data: data[:12] + bytes([data[12] ^ 1]) + data[13:], id="flipped-ciphertext-bit"),
        pytest.param(lambda data: data[:20], id="truncated"),
    ],
)
async def test_tampered_ciphertext_is_refused_clearly(tamper: Callable[[bytes], bytes]) -> None:
    codec = EncryptionCodec([("k1", NEW)])
    [sealed] = await codec.encode([plain("x")])
    sealed.data = tamper(sealed.data)
    with pytest.raises(PayloadKeyError, match=r"key id 'k1'.*altered") as caught:
        await codec.decode([sealed])
    assert_no_key(str(caught.value), NEW)


async def test_a_payload_moved_to_another_key_id_fails_authentication() -> None:
    # The key id is associated data: relabelling a payload with another id (same key) is detected.
    codec = EncryptionCodec([("k1", NEW), ("k2", NEW)])
    [sealed] = await codec.encode([plain("x")])
    sealed.metadata[KEY_ID] = b"k2"
    with pytest.raises(PayloadKeyError, match="key id 'k2' fails authentication"):
        await codec.decode([sealed])


def test_keys_show_in_no_repr_of_settings_or_codec() -> None:
    settings = load_settings(XORB_PAYLOAD_KEYS=f"k2:{b64(NEW)},k1:{b64(OLD)}")
    assert settings.payload_keys  # it is there, just never shown
    codec = EncryptionCodec(parse_payload_keys(settings.payload_keys))
    for text in (repr(settings), str(settings), repr(codec)):
        assert_no_key(text, NEW, OLD)
    assert "'k2'" in repr(codec)


def test_parsing_keeps_order_and_accepts_aes_128_192_256() -> None:
    keys = [os.urandom(n) for n in (32, 24, 16)]
    text = ",".join(f"k{i}:{b64(key)}" for i, key in enumerate(keys)) + ", ,"
    assert parse_payload_keys(text) == [("k0", keys[0]), ("k1", keys[1]), ("k2", keys[2])]
    assert parse_payload_keys("") == []


SHORT = os.urandom(20)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        # Named ids: the keys are random, and a test id must be the same in every process (pytest-xdist).
        pytest.param(f"{b64(NEW)}", "entry 1: expected <key id>:<base64 key>, got no key id", id="no-id"),
        pytest.param(f":{b64(NEW)}", "entry 1: expected <key id>:<base64 key>, got no key id", id="empty-id"),
        pytest.param(f"k1:{b64(NEW)},k1:{b64(OLD)}", "entry 2: got key id 'k1' a second time", id="id-twice"),
        pytest.param(
            f"k1:{b64(NEW)},k2:{b64(NEW)[:-3]}!!",
            "key 'k2': expected a base64 key, got text that is not base64",
            id="not-base64",
        ),
        pytest.param(
            f"k1:{b64(SHORT)}", "key 'k1': expected 32 bytes (AES-256; 16 or 24 accepted), got 20 bytes", id="short-key"
        ),
        # swapped: the key is in the id's place
        pytest.param(f"{b64(NEW)}:k1", "entry 1: expected a key id of letters", id="swapped"),
    ],
)
def test_bad_keys_are_named_by_entry_or_id_never_echoed(value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(XORB_PAYLOAD_KEYS=value)
    text = str(caught.value)
    assert text.startswith("invalid configuration: XORB_PAYLOAD_KEYS: ")
    assert message in text
    assert_no_key(text, NEW, OLD, SHORT)


def test_data_converter_encrypts_failures_too_only_with_keys() -> None:
    assert data_converter(Settings()) is pydantic_data_converter
    converter = data_converter(load_settings(XORB_PAYLOAD_KEYS=f"k1:{b64(NEW)}"))
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert isinstance(converter.failure_converter, DefaultFailureConverterWithEncodedAttributes)
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class


async def test_failure_messages_are_encrypted_when_keys_are_set() -> None:
    # An exception's message can quote alert content ("user 'canary-...' not found"): it must not stay in clear.
    converter = data_converter(load_settings(XORB_PAYLOAD_KEYS=f"k1:{b64(NEW)}"))
    failure = Failure()
    await converter.encode_failure(ApplicationError("user 'canary-failure' not found", "detail"), failure)
    assert b"canary-failure" not in failure.SerializeToString()
    assert failure.encoded_attributes.metadata["encoding"] == ENCODING
    decoded = await converter.decode_failure(failure)
    assert "canary-failure" in str(decoded)


def assert_no_key(text: str, *keys: bytes) -> None:
    for key in keys:
        for shown in (b64(key), key.hex(), repr(key)):
            assert shown not in text, "key material in a message"
        assert b64(key)[:16] not in text, "part of a key in a message"
