"""Bearer API keys: compared in constant time, never logged."""

from __future__ import annotations

import hmac

from fastapi import Request

from xorb_orchestrator.api.errors import ApiError


class ApiKeys:
    def __init__(self, keys: list[str]) -> None:
        self._keys = [k.encode() for k in keys]

    def __repr__(self) -> str:  # never show the keys, even in a debugger or a log of app.state
        return f"ApiKeys(<{len(self._keys)} keys>)"

    def accepts(self, presented: str) -> bool:
        candidate = presented.encode()
        # Check every key so the time taken does not reveal which (if any) matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        return matched


async def require_api_key(request: Request) -> None:
    """FastAPI dependency for every /v1 route."""
    keys: ApiKeys = request.app.state.api_keys
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or not keys.accepts(token.strip()):
        raise ApiError(
            401,
            "unauthorized",
            "missing or invalid API key: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
