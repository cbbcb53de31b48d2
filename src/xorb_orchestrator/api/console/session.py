"""The console's session: a signed cookie naming the person, and the CSRF token its forms carry.

The cookie holds `{name, expiry, session id}` and an HMAC keyed by the person's own API key (its digest, with a
label of its own), so no extra secret needs configuring, a session outlives an API restart, and it ends when the
person's key is removed or replaced. Only person-bound keys sign in: a service key has nobody to decide as.
The CSRF token is an HMAC of the session id under the same key; SameSite=Strict keeps the cookie off other sites'
requests as well, and state-changing requests must also come from our own origin (Origin/Sec-Fetch-Site).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from fastapi import Request, Response

from xorb_orchestrator.api.auth import ApiKeys
from xorb_orchestrator.config.api_keys import Person

COOKIE = "xorb_console"
SIGNIN_COOKIE = "xorb_signin"  # the sign-in form's own CSRF token (there is no session yet)
LIFETIME_SECONDS = 12 * 3600  # a shift
_LABEL = b"xorb-console-session-v1"


@dataclass(frozen=True)
class Session:
    person: Person
    session_id: str
    expires: int
    csrf: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signing_key(key_digest: bytes) -> bytes:
    return hmac.new(key_digest, _LABEL, hashlib.sha256).digest()


def _csrf(signing_key: bytes, session_id: str) -> str:
    return _b64(hmac.new(signing_key, b"csrf:" + session_id.encode(), hashlib.sha256).digest())


def issue(key_digest: bytes, person: Person, now: float | None = None) -> str:
    """The cookie value for a person who just signed in with the key whose digest is `key_digest`."""
    payload = json.dumps(
        {"n": person.name, "e": int((now or time.time()) + LIFETIME_SECONDS), "s": secrets.token_urlsafe(16)},
        separators=(",", ":"),
    ).encode()
    return _b64(payload) + "." + _b64(hmac.new(_signing_key(key_digest), payload, hashlib.sha256).digest())


def read(keys: ApiKeys, cookie: str | None, now: float | None = None) -> Session | None:
    """The session a cookie proves, or None (absent, forged, expired, or the person's key is gone)."""
    if not cookie or len(cookie) > 1024:
        return None
    encoded, _, signature = cookie.partition(".")
    try:
        payload, mac = _unb64(encoded), _unb64(signature)
        claims = json.loads(payload)
        name, expires, session_id = str(claims["n"]), int(claims["e"]), str(claims["s"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
    if expires < (now or time.time()):
        return None
    for digest, person in keys.held_by(name):
        signing_key = _signing_key(digest)
        if hmac.compare_digest(hmac.new(signing_key, payload, hashlib.sha256).digest(), mac):
            return Session(person, session_id, expires, _csrf(signing_key, session_id))
    return None


def tokens_equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def same_origin(request: Request) -> bool:
    """A state-changing request came from one of our own pages (browsers send one header or both)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=_behind_tls(request),  # the dev stack serves plain http on loopback
    )


def _behind_tls(request: Request) -> bool:
    """Served over https, here or at the proxy people reach (XORB_PUBLIC_URL)."""
    services = getattr(request.app.state, "services", None)
    public_url = services.settings.public_url if services is not None else ""
    return request.url.scheme == "https" or public_url.startswith("https://")
