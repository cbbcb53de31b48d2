"""Where a failed step goes: the playbook's `workflow_exception`, or the step's own `on_failure` path.

- `on_failure` to the `workflow_exception` step (or no `on_failure`): the native default, `abort`, when the
  exception step is an `end` step or absent; otherwise a jump to a final `workflow-exception` step that runs the
  exception branch only when a step jumped there (over the `workflow-completed` marker that ends the main path).
- `on_failure` to another step: the step gets `on_failure: continue` and is followed by an `if` on its status
  (`<id>-outcome`) whose `then` is the `on_success` path and `else` the `on_failure` path, up to where they join.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from xorb_orchestrator.playbook.cacao.models import ActionStep, AnyStep
from xorb_orchestrator.playbook.cacao.variables import Scope, step_reference

if TYPE_CHECKING:
    from xorb_orchestrator.playbook.cacao.walk import Walk

HANDLER_ID = "workflow-exception"
COMPLETED_ID = "workflow-completed"
CONTINUE = {"on_failure": "continue"}


def exception_policy(walk: Walk, scope: Scope) -> dict[str, Any]:
    """What a failure does where no on_failure routes it: jump to the exception step, or abort."""
    return {"on_failure": {"goto": HANDLER_ID}} if walk.handler and scope.to_handler else {}


def exception_branch(walk: Walk, exception: str, scope: Scope) -> list[dict[str, Any]]:
    """The steps that end the main path: a marker that it completed, then the exception branch, which runs
    only when a failure jumped over the marker (a jumped-over step stays pending)."""
    after = Scope([replace(a, sure=False) for a in scope.assignments], {}, to_handler=False)
    handler = walk.chain(exception, frozenset(), after, "")
    if not handler:  # an exception step whose branches are all empty: nothing to do but end
        return []
    marker = {
        "id": COMPLETED_ID,
        "description": "The main path completed: the workflow_exception steps below are skipped.",
        "action": "data.set",
        "args": {"completed": True},
    }
    guard = f"{step_reference(COMPLETED_ID)}.status != 'completed'"
    description = "The playbook's workflow_exception: runs when a step failed."
    return [marker, {"id": HANDLER_ID, "description": description, "if": guard, "then": handler}]


def outcome_branch(
    walk: Walk,
    step_id: str,
    step: AnyStep,
    stop: frozenset[str],
    scope: Scope,
    suffix: str,
    last_id: str,
    before: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """The `<id>-outcome` step after a step whose on_success and on_failure lead to different steps (`last_id` is
    its last native step, `before` how many assignments there were before it), and the step where they join."""
    assert step.on_failure is not None
    success = walk.graph.success(step_id)
    join = walk.graph.join([s for s in (success, step.on_failure) if s is not None])
    until = stop | {join} if join is not None else stop
    ok = f"{step_reference(last_id)}.status == 'completed'"
    mark = len(scope.assignments)
    then_scope = scope.copy()
    if isinstance(step, ActionStep):  # on the success path, the step's own outputs are certain
        then_scope.assignments[before:] = [replace(a, sure=True) for a in scope.assignments[before:]]
    then = walk.chain(success, until, then_scope, suffix)
    else_scope = scope.copy()
    otherwise = walk.chain(step.on_failure, until, else_scope, suffix)
    scope.merge(then_scope, mark, sure=False)
    scope.merge(else_scope, mark, sure=False)
    if not then and not otherwise:
        return [], join
    if not then:
        ok, then, otherwise = f"!({ok})", otherwise, []
    outcome: dict[str, Any] = {"id": walk.ids.make(step_id, suffix + "-outcome"), "if": ok, "then": then}
    if otherwise:
        outcome["else"] = otherwise
    return [{**outcome, **exception_policy(walk, scope)}], join
