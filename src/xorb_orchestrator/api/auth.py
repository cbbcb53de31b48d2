"""Bearer API keys: compared in constant time, never logged; a key may belong to a person (see docs/approvals.md)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from fastapi import Request

from xorb_orchestrator.api.errors import ApiError
from xorb_orchestrator.config.api_keys import ApiKeyEntry, Person


def key_digest(key: str) -> bytes:
    # Comparing fixed-length digests keeps the comparison's time independent of the keys' lengths too.
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    """The accepted keys, each with the person who holds it (None: a service key)."""

    def __init__(self, keys: Iterable[ApiKeyEntry]) -> None:
        self._keys = [(key_digest(entry.secret), entry.person) for entry in keys]

    def __repr__(self) -> str:  # never show the keys, even in a debugger or a log of app.state
        return f"ApiKeys(<{len(self._keys)} keys>)"

    def match(self, presented: str) -> tuple[bool, Person | None]:
        """(accepted, the person the key belongs to or None for a service key)."""
        candidate = key_digest(presented)
        # Check every key so the time taken does not reveal which (if any) matched.
        matched, holder = False, None
        for key, person in self._keys:
            if hmac.compare_digest(candidate, key):
                matched, holder = True, person
        return matched, holder

    def held_by(self, name: str) -> list[tuple[bytes, Person]]:
        """The keys of the person called `name` (their digests): what the console signs that person's session
        with, so a session ends when its key is removed or replaced."""
        return [(key, person) for key, person in self._keys if person is not None and person.name == name]


async def require_api_key(request: Request) -> Person | None:
    """FastAPI dependency for every /v1 route: 401 without a valid key. Returns the key's person (None for a
    service key), also kept in `request.state.person`; a route that needs it declares
    `person: Person | None = Depends(require_api_key)`, which FastAPI resolves once per request."""
    keys: ApiKeys = request.app.state.api_keys
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    accepted, person = keys.match(token.strip()) if scheme.lower() == "bearer" and token.strip() else (False, None)
    if not accepted:
        raise ApiError(
            401,
            "unauthorized",
            "missing or invalid API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.person = person
    return person
