"""What every step may carry: retry policy, failure routing and compensation."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from xorb_orchestrator.playbook.durations import Duration
from xorb_orchestrator.playbook.metadata import STEP_ID_PATTERN, Strict

MAX_ATTEMPTS = 20
ACTION_NAME_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"

ActionName = Annotated[
    str,
    Field(pattern=ACTION_NAME_PATTERN, description="A registered action name, e.g. notify.webhook."),
]


class RetryPolicy(Strict):
    """How often a failed action is tried again, and how long to wait in between (exponential backoff)."""

    max_attempts: int = Field(3, ge=1, le=MAX_ATTEMPTS, description="Attempts in all, the first included (1-20).")
    initial_interval: Duration = Field(timedelta(seconds=1), description="Wait before the second attempt.")
    backoff: float = Field(2.0, ge=1.0, le=10.0, description="Each wait is the previous one times this (1-10).")
    max_interval: Duration = Field(timedelta(minutes=1), description="Longest wait between two attempts.")


class Goto(Strict):
    """On failure, carry on at a later step instead of aborting."""

    goto: str = Field(pattern=STEP_ID_PATTERN, description="Id of a later step in this list or an enclosing one.")


def _on_failure(value: Any) -> Any:
    if value in ("abort", "continue") or isinstance(value, Goto):
        return value
    if isinstance(value, dict) and set(value) == {"goto"} and isinstance(value["goto"], str):
        return Goto(goto=value["goto"])
    raise ValueError(f"expected abort, continue or {{goto: <step id>}}, got {value!r}")


OnFailure = Annotated[
    Literal["abort", "continue"] | Goto,
    BeforeValidator(_on_failure),
    WithJsonSchema(
        {
            "description": "What happens when the step fails (after its retries): abort the playbook (and run "
            "compensations), continue with the next step, or go to a later step: {goto: <step id>}.",
            "oneOf": [
                {"type": "string", "enum": ["abort", "continue"]},
                {
                    "type": "object",
                    "properties": {"goto": {"type": "string", "pattern": STEP_ID_PATTERN}},
                    "required": ["goto"],
                    "additionalProperties": False,
                },
            ],
            "default": "abort",
        }
    ),
]


class Compensation(Strict):
    """The action that undoes a completed step; run in reverse order when the playbook fails or is cancelled."""

    action: ActionName
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="Arguments; templates may also read the compensated step's own result (steps.<id>.result).",
    )
    timeout: Duration | None = Field(None, description="Time limit of one attempt (default 5m).")
    retry: RetryPolicy | None = Field(None, description="Retry policy of the undo (default: 5 attempts).")
