"""Where playbook steps run: the step states they see (a for_each item adds its own), and what a step body ends
with. Shared by the step runner (steps.py) and its action steps (action_steps.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from xorb_orchestrator.playbook import StepState

# A step body's end: its state, and a goto target when a nested list jumped out of it.
Ran = tuple[StepState, str | None]


@dataclass
class Scope:
    """Where steps run: the step states they see (outermost first; a for_each item adds its own) and `item`."""

    chain: tuple[dict[str, StepState], ...]
    item: Any = None
    in_loop: bool = False
    iterations: tuple[int, ...] = field(default=())

    @property
    def states(self) -> dict[str, StepState]:
        return self.chain[-1]

    @property
    def iteration(self) -> int | None:
        return self.iterations[-1] if self.iterations else None

    def visible(self) -> dict[str, StepState]:
        merged: dict[str, StepState] = {}
        for states in self.chain:
            merged.update(states)
        return merged

    def enter_item(self, index: int, item: Any) -> Scope:
        return Scope((*self.chain, {}), item, True, (*self.iterations, index))
