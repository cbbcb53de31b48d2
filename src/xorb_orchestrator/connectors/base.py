"""What a connector is: a tool type with its connection options, its actions (each an ActionSpec plus the call
that makes the effect and returns a receipt) and a read-only health check.

Connectors do the effect and nothing Temporal: the worker wraps each action into an activity
(activities/actions/connector_actions.py) that adds dry runs, heartbeats, metrics and error classes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field, field_validator

from xorb_orchestrator.connectors.connections import Connection, Connections
from xorb_orchestrator.models.receipt import Receipt
from xorb_orchestrator.playbook.actions import ActionArgs, ActionSpec


class ConnectorError(Exception):
    """The call failed; the message is one line for the incident, never carrying a secret."""

    retryable = False
    retry_after: float | None = None


class ConnectorRejected(ConnectorError):
    """Trying again will not help: the tool refused (4xx), the target is not valid, the connection is wrong."""


class ConnectorUnavailable(ConnectorError):
    """Try again later: the tool is unreachable, busy (429, 5xx) or timed out. `retry_after`: the seconds the tool
    asked us to wait (Retry-After or its vendor form), which the activity makes the next attempt's delay."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConnectorArgs(ActionArgs):
    """Every connector action takes the connection it acts through (by name)."""

    connection: str | None = Field(
        None, max_length=64, description="The connection's name in XORB_CONNECTORS_FILE (default: the only one)."
    )

    @field_validator("connection", mode="before")
    @classmethod
    def _blank_is_default(cls, value: object) -> object:
        # A playbook passes an optional input through: "" means "the only connection of the type".
        return None if isinstance(value, str) and not value.strip() else value


ArgsT = TypeVar("ArgsT", bound=ConnectorArgs)


@dataclass(frozen=True)
class CallContext:
    """Who is calling: the step instance's key (workflow id + step id, never run id: a repeat is the same call)."""

    key: str
    incident_id: str
    attempt: int


@dataclass
class Outcome:
    details: dict[str, Any] = field(default_factory=dict)
    receipt: Receipt | None = None


@dataclass(frozen=True)
class ConnectorAction(Generic[ArgsT]):
    spec: ActionSpec[ArgsT]
    call: Callable[[Connection, ArgsT, CallContext], Awaitable[Outcome]]


@dataclass(frozen=True)
class ConnectorType:
    name: str
    description: str
    options: type[BaseModel]
    actions: Sequence[ConnectorAction[Any]]
    health: Callable[[Connection], Awaitable[str]]


def connection_for(connections: Connections, kind: str, name: str | None) -> Connection:
    """The connection a call names (or the only one of its type); ConnectorRejected saying what is configured."""
    of_type = connections.of_type(kind)
    if name is not None:
        found = connections.get(name)
        if found is None or found.type != kind:
            known = ", ".join(c.name for c in of_type) or "none"
            raise ConnectorRejected(
                f"no {kind} connection named {name!r} in XORB_CONNECTORS_FILE (configured: {known})"
            )
        return found
    if len(of_type) == 1:
        return of_type[0]
    if not of_type:
        raise ConnectorRejected(f"no {kind} connection in XORB_CONNECTORS_FILE")
    names = ", ".join(c.name for c in of_type)
    raise ConnectorRejected(f"several {kind} connections ({names}): name one in the step's `connection`")
