"""The walk over a valid CACAO workflow graph: from a step, follow each continuation until an `end` step, and
emit the native steps for each CACAO step on the way (the step kinds themselves are converted in actions.py,
blocks.py and loops.py; failure routing in failures.py)."""

from __future__ import annotations

from typing import Any

from xorb_orchestrator.playbook.cacao.actions import action_steps, playbook_action_step
from xorb_orchestrator.playbook.cacao.blocks import if_block, parallel_block, switch_block
from xorb_orchestrator.playbook.cacao.commands import milliseconds
from xorb_orchestrator.playbook.cacao.failures import (
    COMPLETED_ID,
    CONTINUE,
    HANDLER_ID,
    exception_policy,
    outcome_branch,
)
from xorb_orchestrator.playbook.cacao.graph import Graph
from xorb_orchestrator.playbook.cacao.loops import while_blocks
from xorb_orchestrator.playbook.cacao.models import (
    ActionStep,
    AnyStep,
    CacaoPlaybook,
    EndStep,
    IfConditionStep,
    ParallelStep,
    PlaybookActionStep,
    StartStep,
    SwitchConditionStep,
    WhileConditionStep,
)
from xorb_orchestrator.playbook.cacao.native import StepIds
from xorb_orchestrator.playbook.cacao.variables import (
    Assignment,
    Scope,
    VariableError,
    Variables,
    cel_literal,
    typed_value,
)
from xorb_orchestrator.playbook.errors import PlaybookError


class Walk:
    """One conversion in progress: the playbook and its graph, the native ids taken, and every problem found."""

    def __init__(self, playbook: CacaoPlaybook, max_iterations: int) -> None:
        self.playbook = playbook
        self.graph = Graph(playbook)
        self.variables = Variables(playbook)
        self.max_iterations = max_iterations
        self.errors: list[PlaybookError] = []
        self.ids = StepIds()
        self.ids.used.update({HANDLER_ID, COMPLETED_ID})
        exception = playbook.workflow_exception
        self.handler = exception is not None and not isinstance(self.graph.step(exception), EndStep)
        self.handler_sources: list[str] = []

    def error(self, message: str, step: str | None = None, field: str | None = None) -> None:
        """Record a problem (once)."""
        problem = PlaybookError(message, step, field)
        if problem not in self.errors:
            self.errors.append(problem)

    def chain(self, entry: str | None, stop: frozenset[str], scope: Scope, suffix: str) -> list[dict[str, Any]]:
        """Native steps for the CACAO steps from `entry` on, until an end step or a step in `stop`."""
        steps: list[dict[str, Any]] = []
        current = entry
        for _ in range(len(self.graph.steps) + 1):  # a valid graph has no other loop: bounded anyway
            if current is None or current in stop or self.graph.is_end(current):
                break
            emitted, current = self.step(current, stop, scope, suffix)
            steps.extend(emitted)
        return steps

    def step(
        self, step_id: str, stop: frozenset[str], scope: Scope, suffix: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The native steps for one CACAO step, and the step the run goes on with."""
        step = self.graph.step(step_id)
        if isinstance(step, StartStep):
            return [], step.on_completion
        saved = dict(scope.local)
        scope.local.update(step.step_variables)  # a step's variables: for itself and its branches
        # A step variable with a value starts from it inside the step (a while's counter, say), whatever an
        # earlier step assigned to the same name.
        starts: list[Assignment] = []
        for name, variable in step.step_variables.items():
            if variable.value is None:
                continue
            try:
                starts.append(Assignment(name, step_id, cel_literal(typed_value(variable)), sure=True))
            except VariableError as exc:
                self.error(str(exc), step_id, f"step_variables.{name}.value")
        scope.assignments.extend(starts)
        try:
            return self._step(step_id, step, stop, scope, suffix)
        finally:
            scope.local = saved
            scope.assignments[:] = [a for a in scope.assignments if all(a is not start for start in starts)]

    def _step(
        self, step_id: str, step: AnyStep, stop: frozenset[str], scope: Scope, suffix: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        split = step.on_failure is not None and step.on_failure != self.playbook.workflow_exception
        policy = CONTINUE if split else exception_policy(self, scope)
        emitted: list[dict[str, Any]] = []
        if step.delay:
            emitted.append(
                {"id": self.ids.make(step_id, suffix + "-delay"), "wait": {"delay": milliseconds(step.delay)}}
            )
        before = len(scope.assignments)
        continuation = self.graph.continuation(step_id)
        inner_stop = stop | {continuation} if continuation is not None else stop
        if isinstance(step, ActionStep):
            main = action_steps(self, step_id, step, scope, suffix, policy)
        elif isinstance(step, PlaybookActionStep):
            main = playbook_action_step(self, step_id, step, scope, suffix, policy)
        elif isinstance(step, IfConditionStep):
            main = if_block(self, step_id, step, inner_stop, scope, suffix, policy)
        elif isinstance(step, SwitchConditionStep):
            main = switch_block(self, step_id, step, inner_stop, scope, suffix, policy)
        elif isinstance(step, ParallelStep):
            main = parallel_block(self, step_id, step, inner_stop, scope, suffix, policy, sure=not split)
        elif isinstance(step, WhileConditionStep):
            if split:
                self.error("on_failure is not supported on a while-condition (failures in the loop go to "
                           "workflow_exception)", step_id, "on_failure")  # fmt: skip
            main = while_blocks(self, step_id, step, inner_stop, scope, suffix, policy)
        else:  # pragma: no cover - start and end are handled by the walk
            main = []
        if policy.get("on_failure") == {"goto": HANDLER_ID}:
            self.handler_sources.extend(native["id"] for native in main)
        emitted.extend(main)
        if not split or not main:
            return emitted, continuation
        # on_success / on_failure lead to different steps: branch on how this step ended, up to where they join.
        outcome, join = outcome_branch(self, step_id, step, stop, scope, suffix, main[-1]["id"], before)
        emitted.extend(outcome)
        return emitted, join
