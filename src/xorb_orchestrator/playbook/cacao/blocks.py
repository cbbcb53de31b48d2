"""CACAO branching steps as native blocks: `if-condition` becomes an `if`, `switch-condition` a `switch`, and
`parallel` a `parallel` that joins all its branches. Each branch is converted up to its `end` step, or up to
where it joins the branching step's continuation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xorb_orchestrator.playbook.cacao.conditions import ConditionError, translate_condition, translate_switch
from xorb_orchestrator.playbook.cacao.models import IfConditionStep, ParallelStep, SwitchConditionStep
from xorb_orchestrator.playbook.cacao.native import block_fields
from xorb_orchestrator.playbook.cacao.variables import Scope, VariableError

if TYPE_CHECKING:
    from xorb_orchestrator.playbook.cacao.walk import Walk


def condition(walk: Walk, step_id: str, field: str, text: str, scope: Scope, switch: bool = False) -> str:
    """A step's condition (or switch value) as CEL; on a problem, record it and return `true`."""
    try:
        if switch:
            return translate_switch(text, walk.variables, scope)
        return translate_condition(text, walk.variables, scope)
    except (ConditionError, VariableError) as exc:
        walk.error(str(exc), step_id, field)
        return "true"


def if_block(
    walk: Walk,
    step_id: str,
    step: IfConditionStep,
    stop: frozenset[str],
    scope: Scope,
    suffix: str,
    policy: dict[str, Any],
) -> list[dict[str, Any]]:
    """An `if` block (negated when only the false branch has steps), or nothing when both branches are empty."""
    test = condition(walk, step_id, "condition", step.condition, scope)
    before = len(scope.assignments)
    then_scope, else_scope = scope.copy(), scope.copy()
    then = walk.chain(step.on_true, stop, then_scope, suffix)
    otherwise = walk.chain(step.on_false, stop, else_scope, suffix)
    scope.merge(then_scope, before, sure=False)
    scope.merge(else_scope, before, sure=False)
    if not then and not otherwise:
        return []
    if not then:
        test, then, otherwise = f"!({test})", otherwise, []
    native = {**block_fields(walk.ids, step_id, step, suffix, policy), "if": test, "then": then}
    if otherwise:
        native["else"] = otherwise
    return [native]


def switch_block(
    walk: Walk,
    step_id: str,
    step: SwitchConditionStep,
    stop: frozenset[str],
    scope: Scope,
    suffix: str,
    policy: dict[str, Any],
) -> list[dict[str, Any]]:
    """A `switch` block; only the default's steps when there is no other case, nothing when every case is empty."""
    value = condition(walk, step_id, "switch", step.switch, scope, switch=True)
    before = len(scope.assignments)
    cases: dict[str, list[dict[str, Any]]] = {}
    default: list[dict[str, Any]] = []
    for key, target in step.cases.items():
        case_scope = scope.copy()
        steps = walk.chain(target, stop, case_scope, suffix)
        scope.merge(case_scope, before, sure=False)
        if key == "default":
            default = steps
        else:
            cases[key] = steps
    if not any(cases.values()) and not default:
        return []
    if not cases:
        return default
    native = {**block_fields(walk.ids, step_id, step, suffix, policy), "switch": value, "cases": cases}
    if default:
        native["default"] = default
    return [native]


def parallel_block(
    walk: Walk,
    step_id: str,
    step: ParallelStep,
    stop: frozenset[str],
    scope: Scope,
    suffix: str,
    policy: dict[str, Any],
    sure: bool,
) -> list[dict[str, Any]]:
    """A `parallel` block of the non-empty branches; `sure` when the branches' assignments certainly hold after."""
    before = len(scope.assignments)
    branches: list[list[dict[str, Any]]] = []
    for _, target in step.branches():
        # A branch cannot jump out to the exception step (the others may still run): it fails the parallel.
        branch_scope = scope.copy(to_handler=False)
        steps = walk.chain(target, stop, branch_scope, suffix)
        scope.merge(branch_scope, before, sure=sure)
        if steps:
            branches.append(steps)
    if not branches:
        return []
    return [{**block_fields(walk.ids, step_id, step, suffix, policy), "parallel": branches, "join": "all"}]
