"""What the consumer answers: an OpenC2 response (status, status text, results), and the refusal that becomes one.

The status codes are the Language's (3.3.2.1) as the SLPF profile uses them (2.2.3); the texts the profile
suggests ("Option not supported", "Rule number currently in use", ...) lead the status text, with what exactly
was wrong after them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PROCESSING = 102
OK = 200
BAD_REQUEST = 400
UNAUTHORIZED = 401
INTERNAL_ERROR = 500
NOT_IMPLEMENTED = 501
UNAVAILABLE = 503


@dataclass(frozen=True)
class Answer:
    """One OpenC2 response."""

    status: int
    text: str | None = None
    results: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The response as JSON (Language 3.3.2): status, then status_text and results when there are any."""
        body: dict[str, Any] = {"status": self.status}
        if self.text:
            body["status_text"] = self.text
        if self.results:
            body["results"] = self.results
        return body


class CommandError(Exception):
    """A command refused: its status (400, 500, 501) and a status text naming what is wrong."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text

    def answer(self) -> Answer:
        return Answer(self.status, self.text)


def malformed(text: str) -> CommandError:
    """400: the producer's command is wrong (not JSON, an unknown action, a bad address ...)."""
    return CommandError(BAD_REQUEST, text)


def unsupported(kind: str, detail: str) -> CommandError:
    """501: a valid command this consumer does not carry out; `kind` is the profile's phrase for why."""
    return CommandError(NOT_IMPLEMENTED, f"{kind}: {detail}")


def shown(value: Any) -> str:
    """A value quoted in a status text, cut short: it came from the producer."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
