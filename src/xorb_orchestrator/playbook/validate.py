"""Validation of a parsed playbook's meaning: ids, references, actions, approvals, waits, jumps.

`validate_playbook` returns every problem found; an empty list means the playbook can run.
"""

from __future__ import annotations

from collections.abc import Mapping

from xorb_orchestrator.playbook.approval import Approval
from xorb_orchestrator.playbook.builtin_actions import BUILTIN_ACTIONS
from xorb_orchestrator.playbook.checks import approval_problems, child_playbook_problems, is_rfc3339
from xorb_orchestrator.playbook.errors import PlaybookError, suggestion
from xorb_orchestrator.playbook.metadata import type_name
from xorb_orchestrator.playbook.playbook import Placement, Playbook
from xorb_orchestrator.playbook.policies import Goto, RetryPolicy
from xorb_orchestrator.playbook.steps import (
    ActionStep,
    ApprovalStep,
    ForEachStep,
    IfStep,
    ParallelStep,
    PlaybookStep,
    Step,
    StepBase,
    SwitchStep,
    WaitStep,
)
from xorb_orchestrator.playbook.templates import is_template, template_strings
from xorb_orchestrator.playbook.visibility import ExpressionChecker, Scope, visible_descendants

MAX_STEPS = 1000


def validate_playbook(
    playbook: Playbook,
    actions: Mapping[str, bool] | None = None,
    playbooks: Mapping[str, Playbook] | None = None,
) -> list[PlaybookError]:
    """Every problem with `playbook`, [] when it is runnable.

    `actions` maps the known action names to whether each is mutating (`ActionCatalog.flags()`; default: the
    built-in actions, BUILTIN_ACTIONS — pass the deployment's catalog to know its connectors' actions too).
    `playbooks` (id -> playbook), when given, is where `playbook` steps are looked up; without it they are not
    checked (the catalog checks them when it loads a directory).
    """
    return _Validator(playbook, BUILTIN_ACTIONS.flags() if actions is None else actions, playbooks).run()


class _Validator:
    def __init__(self, playbook: Playbook, actions: Mapping[str, bool], playbooks: Mapping[str, Playbook] | None):
        self.playbook = playbook
        self.actions = actions
        self.playbooks = playbooks
        self.errors: list[PlaybookError] = []
        self.placements: dict[str, Placement] = {}
        self.lists: dict[str, list[Step]] = {}
        self.gated_by: dict[str, str] = {}  # gated action step id -> the approval that gates it
        self.expressions = ExpressionChecker(playbook, self.placements)

    def error(self, message: str, step: StepBase | None = None, field: str | None = None) -> None:
        problem = PlaybookError(message, step.id if step else None, field)
        if problem not in self.errors:
            self.errors.append(problem)

    def run(self) -> list[PlaybookError]:
        self._index()
        self._check_inputs()
        self._walk(self.playbook.steps, frozenset(), in_loop=False)
        return self.errors

    def _index(self) -> None:
        for placement in self.playbook.walk():
            first = self.placements.setdefault(placement.step.id, placement)
            if first is not placement:
                self.error(f"duplicate step id (also used by the step at {first.path})", placement.step, "id")
        if len(list(self.playbook.walk())) > MAX_STEPS:
            self.error(f"a playbook has at most {MAX_STEPS} steps", field="steps")

        def lists(steps: list[Step]) -> None:
            for step in steps:
                self.lists.setdefault(step.id, steps)
                for block in step.blocks():
                    lists(block.steps)

        lists(self.playbook.steps)

    def _check_inputs(self) -> None:
        for name, spec in self.playbook.inputs.items():
            if spec.required and spec.default is not None:
                self.error("a required input cannot have a default", field=f"inputs.{name}.required")
            elif spec.default is not None and not spec.type.accepts(spec.default):
                self.error(f"expected {spec.type.value}, got {type_name(spec.default)}", field=f"inputs.{name}.default")

    def _walk(self, steps: list[Step], visible: frozenset[str], in_loop: bool) -> None:
        for step in steps:
            self._check_step(step, Scope(visible, in_loop))
            for block in step.blocks():
                self._walk(block.steps, visible, in_loop or isinstance(step, ForEachStep))
            visible = visible | {step.id} | {child.id for child in visible_descendants(step)}

    def _check_step(self, step: StepBase, scope: Scope) -> None:
        if step.when is not None:
            self._condition(step, "when", step.when, scope)
        if isinstance(step, ActionStep):
            self._action(step, "action", step.action)
            self._templates(step, "args", step.args, scope)
        elif isinstance(step, IfStep):
            self._condition(step, "if", step.if_, scope)
        elif isinstance(step, SwitchStep):
            self._condition(step, "switch", step.switch, scope)
        elif isinstance(step, ForEachStep):
            self._condition(step, "for_each", step.for_each, scope)
        elif isinstance(step, ApprovalStep):
            self._approval(step, step.approval, scope)
        elif isinstance(step, WaitStep):
            self._wait(step, scope)
        elif isinstance(step, PlaybookStep):
            self._templates(step, "inputs", step.inputs, scope)
            self._child_playbook(step)
        self._policies(step, scope)

    def _policies(self, step: StepBase, scope: Scope) -> None:
        if step.retry is not None:
            if not isinstance(step, ActionStep | PlaybookStep):
                self.error(f"retry applies to action and playbook steps, not to {step.kind} steps", step, "retry")
            self._retry(step, "retry", step.retry)
        if step.timeout is not None and isinstance(step, ApprovalStep):
            self.error("an approval's deadline is approval.timeout", step, "timeout")
        if isinstance(step.on_failure, Goto):
            self._goto(step, step.on_failure.goto)
        if step.compensate is not None:
            self._action(step, "compensate.action", step.compensate.action)
            if step.compensate.retry is not None:
                self._retry(step, "compensate.retry", step.compensate.retry)
            # An undo runs after its step completed, so it may read that step (and what it contains).
            own = {step.id} | {child.id for child in visible_descendants(step)}
            self._templates(step, "compensate.args", step.compensate.args, Scope(scope.visible | own, scope.in_loop))

    def _condition(self, step: StepBase, field: str, text: str, scope: Scope) -> None:
        for problem in self.expressions.condition(text, step, scope):
            self.error(problem, step, field)

    def _templates(self, step: StepBase, field: str, value: object, scope: Scope) -> None:
        for path, text in template_strings(value):
            for problem in self.expressions.template(text, step, scope):
                self.error(problem, step, f"{field}.{path}" if path else field)

    def _action(self, step: StepBase, field: str, name: str) -> None:
        if name in self.actions:
            return
        hint = suggestion(name, self.actions)
        if not hint:
            areas = sorted({known.split(".")[0] for known in self.actions})
            hint = (
                f" (known: {', '.join(sorted(self.actions))})"
                if len(self.actions) <= 12
                else (f" (actions of {', '.join(areas)}: xorb actions list shows them all)")
            )
        self.error(f"unknown action '{name}'{hint}", step, field)

    def _retry(self, step: StepBase, field: str, retry: RetryPolicy) -> None:
        if retry.max_interval < retry.initial_interval:
            self.error("must not be shorter than initial_interval", step, f"{field}.max_interval")

    def _goto(self, step: StepBase, target: str) -> None:
        field = "on_failure.goto"
        if target not in self.placements:
            self.error(f"unknown step '{target}'{suggestion(target, self.placements)}", step, field)
        elif target == step.id:
            self.error("a step cannot jump to itself; jumps only go forward", step, field)
        elif target not in self._goto_targets(step):
            if self.placements[target].order < self.placements[step.id].order:
                self.error(f"step '{target}' comes before this step; jumps only go forward", step, field)
            else:
                self.error(
                    f"step '{target}' is not a later step of this list or of an enclosing one "
                    "(a jump cannot enter a block, or leave a parallel branch or a for_each)",
                    step,
                    field,
                )

    def _goto_targets(self, step: StepBase) -> set[str]:
        """Later steps of this step's list, and of each enclosing list up to a parallel or for_each."""
        targets: set[str] = set()
        current = step
        for parent in (*reversed(self.placements[step.id].ancestors), None):
            siblings = self.lists[current.id]
            index = next(i for i, sibling in enumerate(siblings) if sibling is current)
            targets.update(sibling.id for sibling in siblings[index + 1 :])
            if parent is None or isinstance(parent, ParallelStep | ForEachStep):
                break
            current = parent
        return targets

    def _approval(self, step: ApprovalStep, approval: Approval, scope: Scope) -> None:
        if approval.message:
            self._templates(step, "approval.message", approval.message, scope)
        for field, message in approval_problems(approval):
            self.error(message, step, field)
        for index, gated in enumerate(approval.gates):
            self._gate(step, f"approval.gates.{index}", gated, scope)

    def _gate(self, step: ApprovalStep, field: str, gated: str, scope: Scope) -> None:
        """A gated step: a later action step in the same for_each items, whose request can be rendered (and
        shown) when the approval is asked, gated by this approval alone."""
        placement = self.placements.get(gated)
        if placement is None:
            self.error(f"unknown step '{gated}'{suggestion(gated, self.placements)}", step, field)
            return
        if not isinstance(placement.step, ActionStep):
            self.error(f"step '{gated}' is a {placement.step.kind} step: an approval gates action steps", step, field)
            return
        if placement.order < self.placements[step.id].order:
            self.error(f"step '{gated}' comes before this approval: it gates later steps", step, field)
            return
        if placement.loops != self.placements[step.id].loops:
            self.error(
                f"step '{gated}' runs in other for_each items than this approval: it cannot gate it", step, field
            )
            return
        other = self.gated_by.setdefault(gated, step.id)
        if other != step.id:
            self.error(f"step '{gated}' is already gated by approval '{other}'", step, field)
            return
        # What the approvers see is rendered when they are asked: only what is known then may be read.
        for path, text in template_strings(placement.step.args):
            for problem in self.expressions.template(text, step, scope):  # read as if at the approval
                self.error(f"step '{gated}' args.{path}: {problem} when this approval is asked", step, field)

    def _wait(self, step: WaitStep, scope: Scope) -> None:
        delay, until = step.wait.delay, step.wait.until
        if (delay is None) == (until is None):
            self.error("give exactly one of delay and until", step, "wait")
        elif until is not None and is_template(until):
            self._templates(step, "wait.until", until, scope)
        elif until is not None and not is_rfc3339(until):
            self.error(
                f"{until!r} is not an RFC 3339 time such as 2030-01-01T08:00:00Z (or a ${{{{ }}}} expression)",
                step,
                "wait.until",
            )

    def _child_playbook(self, step: PlaybookStep) -> None:
        if step.playbook == self.playbook.id:
            self.error("a playbook cannot run itself", step, "playbook")
        elif self.playbooks is not None:
            for field, message in child_playbook_problems(self.playbook.id, step, self.playbooks):
                self.error(message, step, field)
