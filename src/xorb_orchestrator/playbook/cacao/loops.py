"""CACAO `while-condition` steps, unrolled into at most `max_iterations` guarded `if` steps (`<id>`, `<id>-i2`
...): each runs the body when the previous iteration ran and the condition, re-evaluated over the values the
previous iteration produced, still holds. Native playbooks have no unbounded loop, and a native `for_each`
cannot carry values from one iteration to the next, which is what a while condition reads."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from xorb_orchestrator.playbook.cacao.blocks import condition
from xorb_orchestrator.playbook.cacao.models import WhileConditionStep
from xorb_orchestrator.playbook.cacao.native import block_fields
from xorb_orchestrator.playbook.cacao.variables import Assignment, Scope, step_reference
from xorb_orchestrator.playbook.validate import MAX_STEPS

if TYPE_CHECKING:
    from xorb_orchestrator.playbook.cacao.walk import Walk


def while_blocks(
    walk: Walk,
    step_id: str,
    step: WhileConditionStep,
    stop: frozenset[str],
    scope: Scope,
    suffix: str,
    policy: dict[str, Any],
) -> list[dict[str, Any]]:
    """The unrolled loop: one `if` per iteration, until the body is empty or `walk.max_iterations` is reached."""
    body_stop = stop | {step_id}  # a body step leading back to the loop ends the iteration
    errors = len(walk.errors)
    history: list[list[Assignment]] = []  # the assignments each iteration's body made
    emitted: list[dict[str, Any]] = []
    for iteration in range(1, walk.max_iterations + 1):
        iteration_suffix = suffix if iteration == 1 else f"{suffix}-i{iteration}"
        check_scope = scope.copy()
        for index, assignments in enumerate(history):
            last = index == len(history) - 1  # the previous iteration ran: its certain assignments hold
            check_scope.assignments.extend(assignments if last else [replace(a, sure=False) for a in assignments])
        test = condition(walk, step_id, "condition", step.condition, check_scope)
        if emitted:
            previous = step_reference(emitted[-1]["id"])
            test = f"{previous}.status == 'completed' && {previous}.result.branch == 'then' && ({test})"
        body_scope = check_scope.copy()
        mark = len(body_scope.assignments)
        body = walk.chain(step.on_true, body_stop, body_scope, iteration_suffix)
        if not body or len(walk.errors) > errors:
            break  # an empty body cannot change the condition; errors would only repeat
        history.append(body_scope.assignments[mark:])
        native = block_fields(walk.ids, step_id, step, iteration_suffix, policy)
        emitted.append({**native, "if": test, "then": body})
    for assignments in history:
        scope.assignments.extend(replace(a, sure=False) for a in assignments)
    count = _count(emitted)
    if count > MAX_STEPS:
        walk.error(
            f"unrolled to {walk.max_iterations} iterations the loop has {count} steps "
            f"(a playbook has at most {MAX_STEPS}): make its body smaller",
            step_id,
        )
    return emitted


def _count(steps: list[dict[str, Any]]) -> int:
    """Native steps, nested ones included."""
    total = 0
    for step in steps:
        total += 1
        for key in ("then", "else", "default"):
            total += _count(step.get(key) or [])
        for branch in step.get("parallel") or []:
            total += _count(branch)
        for case in (step.get("cases") or {}).values():
            total += _count(case)
    return total
