"""Feed credentials from their references, read at the moment a request is made (infrastructure/secrets.py); a
reference that gives no usable secret makes the feed's sync fail without retrying (FeedRejected)."""

from __future__ import annotations

from xorb_orchestrator.infrastructure.feeds.base import FeedRejected
from xorb_orchestrator.infrastructure.secrets import SecretUnavailable
from xorb_orchestrator.infrastructure.secrets import resolve_secret as resolve_any


def resolve_secret(ref: str) -> str:
    """The secret `ref` names; FeedRejected (naming the reference, never a value) when it cannot be had."""
    try:
        return resolve_any(ref)
    except SecretUnavailable as exc:
        raise FeedRejected(str(exc).replace("a secret must", "a feed secret must")) from None
