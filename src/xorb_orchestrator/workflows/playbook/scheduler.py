"""What runs next in a playbook: sequencing, `when`, if/switch choices, for_each lists, goto and on_failure.

Pure and deterministic — no Temporal calls — so the PlaybookWorkflow stays glue and this is unit-tested alone.
A list of steps is walked by a `Cursor`; each step ends as `Done`, `Failed` or a `Jump` (a goto leaving a
nested list); the cursor says which step comes next, or how the whole list ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from xorb_orchestrator.playbook import (
    ForEachStep,
    Goto,
    IfStep,
    Step,
    StepBase,
    StepState,
    SwitchStep,
    Wait,
    evaluate,
    evaluate_condition,
    evaluate_list,
    render_template,
)


class StepFailure(Exception):
    """A step cannot go on; the message is what the run records (one line). `state` is what later steps see
    of it, when there is more to say than the error (an approval's decision, a block's result)."""

    def __init__(self, message: str, *, state: StepState | None = None) -> None:
        super().__init__(message)
        self.state = state


@dataclass(frozen=True)
class Done:
    """The step completed or was skipped: go on with the next one."""


@dataclass(frozen=True)
class Failed:
    """The step failed (after its retries); its on_failure decides."""

    step_id: str
    error: str

    def describe(self) -> str:
        return f"step '{self.step_id}' failed: {self.error}"


@dataclass(frozen=True)
class Jump:
    """Carry on at `target`: a goto, looking for its target in this list or an enclosing one."""

    target: str


Outcome = Done | Failed | Jump
# How a whole list ended: every step done (Done), a step aborted (Failed), or a goto to an enclosing list (Jump).
ListEnd = Outcome


class Cursor:
    """Walks one list of steps in order, following gotos forward and routing failures by `on_failure`."""

    def __init__(self, steps: list[Step], start: int = 0) -> None:
        self.steps = steps
        self.index = start
        self._positions = {step.id: position for position, step in enumerate(steps)}

    def current(self) -> Step | None:
        return self.steps[self.index] if self.index < len(self.steps) else None

    def advance(self, outcome: Outcome) -> ListEnd | None:
        """Move past the current step given how it ended; a ListEnd when this list is finished."""
        step = self.steps[self.index]
        if isinstance(outcome, Failed):
            routed = route_failure(step, outcome)
            if routed is None:  # on_failure: continue
                outcome = Done()
            elif isinstance(routed, Failed):
                return routed
            else:
                outcome = routed
        if isinstance(outcome, Jump):
            target = self._positions.get(outcome.target)
            if target is None or target <= self.index:
                return outcome  # not a later step of this list: the enclosing list looks for it
            self.index = target
            return None
        self.index += 1
        return Done() if self.index >= len(self.steps) else None


def route_failure(step: StepBase, failed: Failed) -> Failed | Jump | None:
    """What a failed step's on_failure says: Failed (abort), Jump (goto) or None (continue)."""
    if step.on_failure == "continue":
        return None
    if isinstance(step.on_failure, Goto):
        return Jump(step.on_failure.goto)
    return failed


def should_run(step: StepBase, context: Mapping[str, Any]) -> bool:
    """The step's `when` (true when it has none); ExpressionError when it cannot be evaluated."""
    return step.when is None or evaluate_condition(step.when, context)


def choose_block(step: IfStep | SwitchStep, context: Mapping[str, Any]) -> tuple[str, list[Step]]:
    """The branch to run: ("then"/"else", steps) for an if, (case key or "default", steps) for a switch."""
    if isinstance(step, IfStep):
        return ("then", step.then) if evaluate_condition(step.if_, context) else ("else", step.else_)
    return step.select(evaluate(step.switch, context))


def fallback_block(step: IfStep | SwitchStep) -> tuple[str, list[Step]]:
    """The branch a dry run takes when it cannot evaluate the choice (it reads a simulated result): else/default."""
    return ("else", step.else_) if isinstance(step, IfStep) else ("default", step.default)


def loop_items(step: ForEachStep, context: Mapping[str, Any]) -> list[Any]:
    """The items of a for_each; StepFailure before any item runs when there are more than max_items."""
    items = evaluate_list(step.for_each, context)
    if len(items) > step.max_items:
        raise StepFailure(f"for_each gave {len(items)} items, more than max_items {step.max_items}: no item was run")
    return items


def wait_time(wait: Wait, context: Mapping[str, Any], now: datetime) -> timedelta:
    """How long a wait step waits from `now` (zero when its deadline has passed)."""
    if wait.delay is not None:
        return wait.delay
    assert wait.until is not None
    text = render_template(wait.until, context) if "${{" in wait.until else wait.until
    try:
        deadline = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise StepFailure(f"wait.until gave {text!r}, not an RFC 3339 time such as 2030-01-01T08:00:00Z") from None
    if deadline.tzinfo is None:
        raise StepFailure(f"wait.until gave {text!r} without a time zone offset (add Z or +00:00)")
    return max(deadline - now, timedelta(0))
