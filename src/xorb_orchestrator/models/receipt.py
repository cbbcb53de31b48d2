"""A receipt: what one effect on a security tool did, how it was checked, when it ends and how to undo it.

Every mutating connector action returns one (in its result's `receipt`), so the incident shows, per step, the
tool's own handle for the effect and the exact call that takes it back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Verification(BaseModel):
    """How the effect was read back from the tool, and whether it held."""

    how: str = Field(max_length=300)
    ok: bool
    detail: str = Field("", max_length=500)


class UndoCall(BaseModel):
    """The action (and its arguments) that takes the effect back."""

    action: str
    args: dict[str, Any] = Field(default_factory=dict)


class Receipt(BaseModel):
    tool: str = Field(description="the connector type, e.g. nftables")
    connection: str = Field(description="the connection's name in XORB_CONNECTORS_FILE")
    target: str = Field(max_length=2048, description="what was acted on: an address, a host, an account")
    done: str = Field(max_length=500, description="what was done, in a sentence")
    handle: str | None = Field(None, max_length=500, description="the tool's own id for the effect")
    at: datetime
    expires_at: datetime | None = Field(None, description="when a timed effect ends on its own")
    verified: Verification | None = None
    undo: UndoCall | None = None
    repeated: bool = Field(False, description="the effect was already in place: found, not made again")
    preexisting: bool = Field(
        False,
        description="found in place on the step's first attempt: someone else's, so its undo is not ours to run "
        "(releasing restores the state before: a host isolated by another team stays isolated)",
    )
