"""The fields every converted native step shares: a unique id, a description, and a block's common fields."""

from __future__ import annotations

from typing import Any

from xorb_orchestrator.playbook.cacao.commands import milliseconds
from xorb_orchestrator.playbook.cacao.models import AnyStep

MAX_STEP_ID = 64


class StepIds:
    """Native step ids: the CACAO id, with a suffix for copies, iterations and extra steps; at most 64 long."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def make(self, base: str, suffix: str = "") -> str:
        candidate, copy = base + suffix, 1
        while True:
            text = candidate if copy == 1 else f"{candidate}-{copy}"
            if len(text) > MAX_STEP_ID:  # keep the type and the UUID's first group: action--b45b671f-i12
                kind, _, uuid = base.partition("--")
                text = f"{kind}--{uuid[:8]}{text[len(base) :]}"
            if text not in self.used:
                self.used.add(text)
                return text
            copy += 1


def describe(step: AnyStep) -> dict[str, str]:
    """The native `description`: the CACAO step's name and description, when it has either."""
    text = " - ".join(part for part in (step.name, step.description) if part)
    return {"description": text} if text else {}


def block_fields(ids: StepIds, step_id: str, step: AnyStep, suffix: str, policy: dict[str, Any]) -> dict[str, Any]:
    """The fields of a native block (if, switch, parallel) other than its branches."""
    native: dict[str, Any] = {"id": ids.make(step_id, suffix), **describe(step), **policy}
    if step.timeout:
        native["timeout"] = milliseconds(step.timeout)
    return native
