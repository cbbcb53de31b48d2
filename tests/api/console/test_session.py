"""The console's session cookie and CSRF token (api/console/session.py): what proves a person, and what does not."""

from __future__ import annotations

import time

from xorb_orchestrator.api.auth import ApiKeys, key_digest
from xorb_orchestrator.api.console import session as sessions
from xorb_orchestrator.config.api_keys import ApiKeyEntry, Person

ALICE = Person("alice", ("soc-lead",))
KEY = "xk-alice-key-0123456789"


def keys(*entries: ApiKeyEntry) -> ApiKeys:
    return ApiKeys(entries or (ApiKeyEntry(KEY, ALICE), ApiKeyEntry("service-key", None)))


def test_a_cookie_proves_its_person_with_their_roles_and_a_csrf_token() -> None:
    cookie = sessions.issue(key_digest(KEY), ALICE)
    found = sessions.read(keys(), cookie)
    assert found is not None
    assert found.person == ALICE
    assert found.expires > time.time() + sessions.LIFETIME_SECONDS - 60
    assert len(found.csrf) >= 40
    # Each sign-in is its own session: another cookie, another CSRF token.
    again = sessions.read(keys(), sessions.issue(key_digest(KEY), ALICE))
    assert again is not None and again.csrf != found.csrf


def test_a_changed_name_or_signature_is_no_session() -> None:
    cookie = sessions.issue(key_digest(KEY), ALICE)
    payload, _, signature = cookie.partition(".")
    forged_name = sessions._b64(sessions._unb64(payload).replace(b"alice", b"admin")) + "." + signature
    assert sessions.read(keys(ApiKeyEntry(KEY, Person("admin", ("ciso",)))), forged_name) is None
    flipped = payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    assert sessions.read(keys(), flipped) is None
    for junk in ("", "x", "a.b", "." * 3, "é.é", cookie + "x" * 2000):
        assert sessions.read(keys(), junk) is None


def test_a_session_signed_with_another_key_of_the_same_name_is_refused() -> None:
    # mallory holds a key named "alice" on another deployment: her cookie does not open this one.
    cookie = sessions.issue(key_digest("mallory's own key"), ALICE)
    assert sessions.read(keys(), cookie) is None


def test_a_session_ends_with_its_time_or_its_key() -> None:
    cookie = sessions.issue(key_digest(KEY), ALICE, now=time.time() - sessions.LIFETIME_SECONDS - 1)
    assert sessions.read(keys(), cookie) is None
    fresh = sessions.issue(key_digest(KEY), ALICE)
    rotated = keys(ApiKeyEntry("xk-alice-new-key", ALICE))  # her key replaced in XORB_API_KEY_FILE
    assert sessions.read(rotated, fresh) is None


def test_a_service_key_has_no_person_to_sign_in_as() -> None:
    assert keys().held_by("alice") and all(person.name == "alice" for _, person in keys().held_by("alice"))
    assert keys(ApiKeyEntry("service-key", None)).held_by("") == []
