"""Which steps' state an expression may read, and checking each reference of an expression against it.

A step sees the steps before it in its own list and before each of its enclosing steps, with their nested
steps — except those inside a for_each, which run once per item (read the loop's own result instead).
Compensations also see their own step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xorb_orchestrator.playbook.context import APPROVAL_FIELDS, INCIDENT_FIELDS, STEP_FIELDS
from xorb_orchestrator.playbook.errors import suggestion
from xorb_orchestrator.playbook.expressions import CompiledExpression, ExpressionError, compile_expression
from xorb_orchestrator.playbook.playbook import Placement, Playbook
from xorb_orchestrator.playbook.references import Reference, analyse
from xorb_orchestrator.playbook.steps import ApprovalStep, ForEachStep, StepBase
from xorb_orchestrator.playbook.templates import compile_template

_DOTTED_DASHED = re.compile(r"\bsteps\s*\.\s*([A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z0-9_-]+)+)")


@dataclass(frozen=True)
class Scope:
    """What an expression at one place may refer to."""

    visible: frozenset[str]
    in_loop: bool


def visible_descendants(step: StepBase) -> list[StepBase]:
    """The nested steps of a finished step that later steps may read (for_each bodies excluded)."""
    if isinstance(step, ForEachStep):
        return []
    found: list[StepBase] = []
    for block in step.blocks():
        for child in block.steps:
            found.append(child)
            found.extend(visible_descendants(child))
    return found


class ExpressionChecker:
    """Checks expressions and templates of one playbook; returns one message per problem."""

    def __init__(self, playbook: Playbook, placements: dict[str, Placement]) -> None:
        self.playbook = playbook
        self.placements = placements

    def condition(self, text: str, step: StepBase, scope: Scope) -> list[str]:
        try:
            compiled = [compile_expression(text)]
        except ExpressionError as exc:
            return [str(exc)]
        return self._check(compiled, step, scope)

    def template(self, text: str, step: StepBase, scope: Scope) -> list[str]:
        try:
            compiled = compile_template(text).expressions
        except ExpressionError as exc:
            return [str(exc)]
        return self._check(compiled, step, scope)

    def _check(self, compiled: list[CompiledExpression], step: StepBase, scope: Scope) -> list[str]:
        problems: list[str] = []
        for expression in compiled:
            dashed = self._dashed_id(expression.text)
            if dashed:  # `steps.block-ip` reads as `steps.block - ip`: say so instead of two puzzling errors
                problems.append(f"write steps['{dashed}'] for an id with '-' (steps.{dashed} reads as a subtraction)")
                continue
            analysis = analyse(expression.ast)
            problems.extend(analysis.problems)
            for reference in analysis.references:
                problem = self.reference_problem(reference, step, scope)
                if problem:
                    problems.append(problem)
        return list(dict.fromkeys(problems))

    def _dashed_id(self, text: str) -> str | None:
        for found in _DOTTED_DASHED.finditer(text):
            if found.group(1) in self.placements:
                return found.group(1)
        return None

    def reference_problem(self, ref: Reference, step: StepBase, scope: Scope) -> str | None:
        """Why a reference cannot resolve at this place, or None when it can."""
        name = ref.path[0] if ref.path else None
        if ref.root == "item":
            return None if scope.in_loop else "'item' is only defined inside the steps of a for_each"
        if name is None:
            if ref.root == "steps" or ref.dynamic:
                return f"read one {ref.root[:-1] if ref.root != 'incident' else 'incident field'} by its literal " + (
                    "id: steps['<id>']" if ref.root == "steps" else f"name: {ref.root}.<name>"
                )
            return None
        if ref.root == "inputs":
            if name in self.playbook.inputs:
                return None
            declared = ", ".join(self.playbook.inputs)
            return f"unknown input '{name}' " + (f"(declared: {declared})" if declared else "(no inputs are declared)")
        if ref.root == "incident":
            if name in INCIDENT_FIELDS:
                return None
            fields = ", ".join(INCIDENT_FIELDS)
            return f"unknown incident field '{name}'{suggestion(name, INCIDENT_FIELDS)} (fields: {fields})"
        return self._step_problem(ref, name, step, scope)

    def _step_problem(self, ref: Reference, target: str, step: StepBase, scope: Scope) -> str | None:
        placement = self.placements.get(target)
        if placement is None:
            hint = suggestion(target, self.placements)
            return f"unknown step '{target}'{hint}"
        if target not in scope.visible:
            return self._not_yet(target, step)
        if len(ref.path) > 1:
            fields = STEP_FIELDS + (APPROVAL_FIELDS if isinstance(placement.step, ApprovalStep) else ())
            if ref.path[1] not in fields:
                return f"step '{target}' has no field '{ref.path[1]}' (fields: {', '.join(fields)})"
        return None

    def _not_yet(self, target: str, step: StepBase) -> str:
        """Explain why `target` has not run when `step` runs."""
        if target == step.id:
            return f"step '{target}' is this step: a step cannot read its own state (only its compensate can)"
        here, there = self.placements[step.id], self.placements[target]
        if any(ancestor is there.step for ancestor in here.ancestors):
            return f"step '{target}' encloses this step and has not finished when it runs"
        if any(ancestor is step for ancestor in there.ancestors):
            return f"step '{target}' is inside this step and has not run yet"
        depth = 0  # how many enclosing steps the two share
        for mine, theirs in zip(here.ancestors, there.ancestors, strict=False):
            if mine is not theirs:
                break
            depth += 1
        if depth and here.blocks[depth - 1] != there.blocks[depth - 1]:
            parent = here.ancestors[depth - 1]
            return f"step '{target}' is in another branch of {parent.kind} '{parent.id}'"
        if there.order > here.order:
            return f"step '{target}' runs after this step"
        loop = next((loop for loop in there.loops if all(loop is not a for a in here.ancestors)), None)
        if loop is not None:
            return (
                f"step '{target}' runs once per item of for_each '{loop.id}'; "
                f"after the loop read steps['{loop.id}'].result"
            )
        return f"step '{target}' has not run when this step runs"  # pragma: no cover - covered by the above
