"""A validated CACAO workflow graph converted to the native step tree.

The walk starts at `workflow_start` and follows each step's continuation until an `end` step. Branching steps
become native blocks whose branches are converted the same way (up to their `end` step, or up to where they join
the branching step's continuation); `end` steps disappear (a branch or the playbook simply ends there). A step
reached along two paths that do not join is converted once per path (its copies get `-2`, `-3` ... suffixes).

- `on_failure` to the `workflow_exception` step (or no `on_failure`): the native default, `abort`, when the
  exception step is an `end` step or absent; otherwise a jump to a final `workflow-exception` step that runs the
  exception branch only when a step jumped there (over the `workflow-completed` marker that ends the main path).
- `on_failure` to another step: the step gets `on_failure: continue` and is followed by an `if` on its status
  (`<id>-outcome`) whose `then` is the `on_success` path and `else` the `on_failure` path, up to where they join.
- `while-condition`: unrolled into at most DEFAULT_WHILE_MAX_ITERATIONS guarded `if` steps (`<id>`, `<id>-i2`
  ...): each runs the body when the previous iteration ran and the condition, re-evaluated over the values the
  previous iteration produced, still holds. Native playbooks have no unbounded loop, and a native `for_each`
  cannot carry values from one iteration to the next, which is what a while condition reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from xorb_orchestrator.models.playbook.cacao.commands import (
    CommandError,
    http_action,
    manual_approval,
    milliseconds,
)
from xorb_orchestrator.models.playbook.cacao.conditions import ConditionError, translate_condition, translate_switch
from xorb_orchestrator.models.playbook.cacao.graph import Graph
from xorb_orchestrator.models.playbook.cacao.models import (
    ActionStep,
    AnyStep,
    CacaoPlaybook,
    EndStep,
    IfConditionStep,
    ManualCommand,
    ParallelStep,
    PlaybookActionStep,
    StartStep,
    SwitchConditionStep,
    WhileConditionStep,
)
from xorb_orchestrator.models.playbook.cacao.variables import (
    Assignment,
    Scope,
    VariableError,
    Variables,
    cel_literal,
    input_name,
    input_type,
    step_reference,
    typed_value,
    valid_input_name,
)
from xorb_orchestrator.models.playbook.errors import PlaybookError
from xorb_orchestrator.models.playbook.metadata import TECHNIQUE_PATTERN
from xorb_orchestrator.models.playbook.validate import MAX_STEPS

DEFAULT_WHILE_MAX_ITERATIONS = 100
HANDLER_ID = "workflow-exception"
COMPLETED_ID = "workflow-completed"
MAX_STEP_ID = 64
_CONTINUE = {"on_failure": "continue"}


@dataclass
class Conversion:
    """The native playbook as plain data (parse it with `parse_playbook`), and every problem found."""

    native: dict[str, Any]
    errors: list[PlaybookError]


def convert_workflow(playbook: CacaoPlaybook, max_iterations: int = DEFAULT_WHILE_MAX_ITERATIONS) -> Conversion:
    """Convert a playbook whose graph is valid (see `graph_problems`) to native playbook data."""
    return _Converter(playbook, max_iterations).run()


class _Ids:
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


class _Converter:
    def __init__(self, playbook: CacaoPlaybook, max_iterations: int) -> None:
        self.playbook = playbook
        self.graph = Graph(playbook)
        self.variables = Variables(playbook)
        self.max_iterations = max_iterations
        self.errors: list[PlaybookError] = []
        self.ids = _Ids()
        self.ids.used.update({HANDLER_ID, COMPLETED_ID})
        exception = playbook.workflow_exception
        self.handler = exception is not None and not isinstance(self.graph.step(exception), EndStep)
        self.handler_sources: list[str] = []

    def error(self, message: str, step: str | None = None, field: str | None = None) -> None:
        problem = PlaybookError(message, step, field)
        if problem not in self.errors:
            self.errors.append(problem)

    # --- the playbook ---------------------------------------------------------------------------------------

    def run(self) -> Conversion:
        playbook = self.playbook
        scope = Scope(to_handler=self.handler)
        steps = self.chain(playbook.workflow_start, frozenset(), scope, "")
        if not steps and not self.errors:
            self.error("the workflow runs no step: a playbook needs at least one action", field="workflow")
        if self.handler_sources and playbook.workflow_exception is not None:
            steps.extend(self._handler(playbook.workflow_exception, scope))
        native = {
            "id": playbook.id.lower(),
            "name": playbook.name[:200],
            "version": _version(playbook.modified),
            "description": _description(playbook),
            "tags": _tags(playbook),
            "inputs": self._inputs(),
            "steps": steps,
        }
        return Conversion(native, self.errors)

    def _inputs(self) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for name, variable in self.playbook.playbook_variables.items():
            field = f"playbook_variables.{name}"
            native = input_name(name)
            if not valid_input_name(native):
                self.error(f"becomes input '{native}': at most 64 letters, digits and '_'", field=field)
                continue
            if native in owners:
                self.error(f"becomes input '{native}', as '{owners[native]}' does", field=field)
                continue
            owners[native] = name
            spec: dict[str, Any] = {"type": input_type(variable)}
            if variable.description:
                spec["description"] = variable.description
            try:
                default = typed_value(variable)
            except VariableError as exc:
                self.error(str(exc), field=f"{field}.value")
                continue
            if variable.external and variable.value is None:
                spec["required"] = True  # passed in by the caller, and no value to fall back on
            elif default is not None:
                spec["default"] = default
            inputs[native] = spec
        return inputs

    def _handler(self, exception: str, scope: Scope) -> list[dict[str, Any]]:
        """The steps that end the main path: a marker that it completed, then the exception branch, which runs
        only when a failure jumped over the marker (a jumped-over step stays pending)."""
        after = Scope([replace(a, sure=False) for a in scope.assignments], {}, to_handler=False)
        handler = self.chain(exception, frozenset(), after, "")
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

    # --- walking the graph ----------------------------------------------------------------------------------

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
        policy = _CONTINUE if split else self._exception_policy(scope)
        emitted: list[dict[str, Any]] = []
        if step.delay:
            emitted.append(
                {"id": self.ids.make(step_id, suffix + "-delay"), "wait": {"delay": milliseconds(step.delay)}}
            )
        before = len(scope.assignments)
        continuation = self.graph.continuation(step_id)
        inner_stop = stop | {continuation} if continuation is not None else stop
        if isinstance(step, ActionStep):
            main = self._action(step_id, step, scope, suffix, policy)
        elif isinstance(step, PlaybookActionStep):
            main = self._playbook_action(step_id, step, scope, suffix, policy)
        elif isinstance(step, IfConditionStep):
            main = self._if(step_id, step, inner_stop, scope, suffix, policy)
        elif isinstance(step, SwitchConditionStep):
            main = self._switch(step_id, step, inner_stop, scope, suffix, policy)
        elif isinstance(step, ParallelStep):
            main = self._parallel(step_id, step, inner_stop, scope, suffix, policy, sure=not split)
        elif isinstance(step, WhileConditionStep):
            if split:
                self.error("on_failure is not supported on a while-condition (failures in the loop go to "
                           "workflow_exception)", step_id, "on_failure")  # fmt: skip
            main = self._while(step_id, step, inner_stop, scope, suffix, policy)
        else:  # pragma: no cover - start and end are handled by the walk
            main = []
        if policy.get("on_failure") == {"goto": HANDLER_ID}:
            self.handler_sources.extend(native["id"] for native in main)
        emitted.extend(main)
        if not split or not main:
            return emitted, continuation
        # on_success / on_failure lead to different steps: branch on how this step ended, up to where they join.
        assert step.on_failure is not None
        success = self.graph.success(step_id)
        join = self.graph.join([s for s in (success, step.on_failure) if s is not None])
        until = stop | {join} if join is not None else stop
        ok = f"{step_reference(main[-1]['id'])}.status == 'completed'"
        mark = len(scope.assignments)
        then_scope = scope.copy()
        if isinstance(step, ActionStep):  # on the success path, the step's own outputs are certain
            then_scope.assignments[before:] = [replace(a, sure=True) for a in scope.assignments[before:]]
        then = self.chain(success, until, then_scope, suffix)
        else_scope = scope.copy()
        otherwise = self.chain(step.on_failure, until, else_scope, suffix)
        scope.merge(then_scope, mark, sure=False)
        scope.merge(else_scope, mark, sure=False)
        if then or otherwise:
            if not then:
                ok, then, otherwise = f"!({ok})", otherwise, []
            outcome: dict[str, Any] = {"id": self.ids.make(step_id, suffix + "-outcome"), "if": ok, "then": then}
            if otherwise:
                outcome["else"] = otherwise
            emitted.append({**outcome, **self._exception_policy(scope)})
        return emitted, join

    def _exception_policy(self, scope: Scope) -> dict[str, Any]:
        """What a failure does where no on_failure routes it: jump to the exception step, or abort."""
        return {"on_failure": {"goto": HANDLER_ID}} if self.handler and scope.to_handler else {}

    # --- leaf steps -----------------------------------------------------------------------------------------

    def _action(
        self, step_id: str, step: ActionStep, scope: Scope, suffix: str, policy: dict[str, Any]
    ) -> list[dict[str, Any]]:
        emitted: list[dict[str, Any]] = []
        for index, command in enumerate(step.commands):
            native_id = self.ids.make(step_id, suffix if index == 0 else f"{suffix}-c{index + 1}")
            try:
                if isinstance(command, ManualCommand):
                    body = manual_approval(self.playbook, step, index, self.variables, scope)
                else:
                    body = http_action(self.playbook, step, index, self.variables, scope)
                    body["retry"] = {"max_attempts": 1}  # CACAO has no retries: a command runs once
                    if step.timeout:
                        body["timeout"] = milliseconds(step.timeout)
            except CommandError as exc:
                self.error(str(exc), step_id, exc.field)
                continue
            except VariableError as exc:
                self.error(str(exc), step_id, f"commands[{index}]")
                continue
            native: dict[str, Any] = {"id": native_id, **_describe(step), **body, **policy}
            if emitted and policy == _CONTINUE:  # a later command runs only when the one before succeeded
                native["when"] = f"{step_reference(emitted[-1]['id'])}.status == 'completed'"
            emitted.append(native)
        self._check_in_args(step_id, step.in_args)
        if emitted:
            last = step.commands[-1]
            for index, name in enumerate(step.out_args):
                field = f"out_args[{index}]"
                if isinstance(last, ManualCommand):
                    self.error("a manual command records a decision, not a value: out_args is not supported", step_id,
                               field)  # fmt: skip
                elif self._assignable(step_id, field, name, scope):
                    value = f"{step_reference(emitted[-1]['id'])}.result.body"
                    scope.assignments.append(Assignment(name, emitted[-1]["id"], value, sure=policy != _CONTINUE))
        return emitted

    def _playbook_action(
        self, step_id: str, step: PlaybookActionStep, scope: Scope, suffix: str, policy: dict[str, Any]
    ) -> list[dict[str, Any]]:
        self._check_in_args(step_id, step.in_args)
        if step.out_args:
            self.error("a native child playbook returns its steps' states, not variables: out_args is not "
                       "supported", step_id, "out_args")  # fmt: skip
        inputs: dict[str, Any] = {}
        for index, name in enumerate(step.in_args):
            if not self.variables.declared(name):
                continue
            try:
                inputs[input_name(name)] = "${{ " + self.variables.read(name, scope) + " }}"
            except VariableError as exc:
                self.error(str(exc), step_id, f"in_args[{index}]")
        native: dict[str, Any] = {
            "id": self.ids.make(step_id, suffix),
            **_describe(step),
            "playbook": step.playbook_id.lower(),
            "inputs": inputs,
            **policy,
        }
        if step.timeout:
            native["timeout"] = milliseconds(step.timeout)
        return [native]

    def _check_in_args(self, step_id: str, names: list[str]) -> None:
        for index, name in enumerate(names):
            if not self.variables.declared(name):
                self.error(self.variables.unknown_message(name), step_id, f"in_args[{index}]")

    def _assignable(self, step_id: str, field: str, name: str, scope: Scope) -> bool:
        declaration = self.variables.declaration(name, scope)
        if declaration is None:
            self.error(self.variables.unknown_message(name), step_id, field)
            return False
        if declaration.constant:
            self.error(f"variable '{name}' is a constant", step_id, field)
            return False
        return True

    # --- blocks ---------------------------------------------------------------------------------------------

    def _block(self, step_id: str, step: AnyStep, suffix: str, policy: dict[str, Any]) -> dict[str, Any]:
        native: dict[str, Any] = {"id": self.ids.make(step_id, suffix), **_describe(step), **policy}
        if step.timeout:
            native["timeout"] = milliseconds(step.timeout)
        return native

    def _condition(self, step_id: str, field: str, text: str, scope: Scope, switch: bool = False) -> str:
        try:
            if switch:
                return translate_switch(text, self.variables, scope)
            return translate_condition(text, self.variables, scope)
        except (ConditionError, VariableError) as exc:
            self.error(str(exc), step_id, field)
            return "true"

    def _if(
        self,
        step_id: str,
        step: IfConditionStep,
        stop: frozenset[str],
        scope: Scope,
        suffix: str,
        policy: dict[str, Any],
    ) -> list[dict[str, Any]]:
        condition = self._condition(step_id, "condition", step.condition, scope)
        before = len(scope.assignments)
        then_scope, else_scope = scope.copy(), scope.copy()
        then = self.chain(step.on_true, stop, then_scope, suffix)
        otherwise = self.chain(step.on_false, stop, else_scope, suffix)
        scope.merge(then_scope, before, sure=False)
        scope.merge(else_scope, before, sure=False)
        if not then and not otherwise:
            return []
        if not then:
            condition, then, otherwise = f"!({condition})", otherwise, []
        native = {**self._block(step_id, step, suffix, policy), "if": condition, "then": then}
        if otherwise:
            native["else"] = otherwise
        return [native]

    def _switch(
        self,
        step_id: str,
        step: SwitchConditionStep,
        stop: frozenset[str],
        scope: Scope,
        suffix: str,
        policy: dict[str, Any],
    ) -> list[dict[str, Any]]:
        value = self._condition(step_id, "switch", step.switch, scope, switch=True)
        before = len(scope.assignments)
        cases: dict[str, list[dict[str, Any]]] = {}
        default: list[dict[str, Any]] = []
        for key, target in step.cases.items():
            case_scope = scope.copy()
            steps = self.chain(target, stop, case_scope, suffix)
            scope.merge(case_scope, before, sure=False)
            if key == "default":
                default = steps
            else:
                cases[key] = steps
        if not any(cases.values()) and not default:
            return []
        if not cases:
            return default
        native = {**self._block(step_id, step, suffix, policy), "switch": value, "cases": cases}
        if default:
            native["default"] = default
        return [native]

    def _parallel(
        self,
        step_id: str,
        step: ParallelStep,
        stop: frozenset[str],
        scope: Scope,
        suffix: str,
        policy: dict[str, Any],
        sure: bool,
    ) -> list[dict[str, Any]]:
        before = len(scope.assignments)
        branches: list[list[dict[str, Any]]] = []
        for _, target in step.branches():
            # A branch cannot jump out to the exception step (the others may still run): it fails the parallel.
            branch_scope = scope.copy(to_handler=False)
            steps = self.chain(target, stop, branch_scope, suffix)
            scope.merge(branch_scope, before, sure=sure)
            if steps:
                branches.append(steps)
        if not branches:
            return []
        return [{**self._block(step_id, step, suffix, policy), "parallel": branches, "join": "all"}]

    def _while(
        self,
        step_id: str,
        step: WhileConditionStep,
        stop: frozenset[str],
        scope: Scope,
        suffix: str,
        policy: dict[str, Any],
    ) -> list[dict[str, Any]]:
        body_stop = stop | {step_id}  # a body step leading back to the loop ends the iteration
        errors = len(self.errors)
        history: list[list[Assignment]] = []  # the assignments each iteration's body made
        emitted: list[dict[str, Any]] = []
        for iteration in range(1, self.max_iterations + 1):
            iteration_suffix = suffix if iteration == 1 else f"{suffix}-i{iteration}"
            check_scope = scope.copy()
            for index, assignments in enumerate(history):
                last = index == len(history) - 1  # the previous iteration ran: its certain assignments hold
                check_scope.assignments.extend(assignments if last else [replace(a, sure=False) for a in assignments])
            condition = self._condition(step_id, "condition", step.condition, check_scope)
            if emitted:
                previous = step_reference(emitted[-1]["id"])
                condition = f"{previous}.status == 'completed' && {previous}.result.branch == 'then' && ({condition})"
            body_scope = check_scope.copy()
            mark = len(body_scope.assignments)
            body = self.chain(step.on_true, body_stop, body_scope, iteration_suffix)
            if not body or len(self.errors) > errors:
                break  # an empty body cannot change the condition; errors would only repeat
            history.append(body_scope.assignments[mark:])
            native = self._block(step_id, step, iteration_suffix, policy)
            emitted.append({**native, "if": condition, "then": body})
        for assignments in history:
            scope.assignments.extend(replace(a, sure=False) for a in assignments)
        count = _count(emitted)
        if count > MAX_STEPS:
            self.error(
                f"unrolled to {self.max_iterations} iterations the loop has {count} steps "
                f"(a playbook has at most {MAX_STEPS}): make its body smaller",
                step_id,
            )
        return emitted


def _describe(step: AnyStep) -> dict[str, str]:
    text = " - ".join(part for part in (step.name, step.description) if part)
    return {"description": text} if text else {}


def _count(steps: list[dict[str, Any]]) -> int:
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


def _version(modified: str) -> str:
    """A native version from the `modified` timestamp: 2024-05-01T10:20:30.000Z -> 2024.05.01-102030.000."""
    date, _, time = modified.rstrip("Z").partition("T")
    return date.replace("-", ".") + "-" + time.replace(":", "")


def _description(playbook: CacaoPlaybook) -> str:
    note = f"Converted from CACAO 2.0 playbook {playbook.id} (modified {playbook.modified})."
    return f"{playbook.description}\n\n{note}" if playbook.description else note


def _tags(playbook: CacaoPlaybook) -> list[str]:
    tags: list[str] = []
    for tag in ["cacao", *playbook.playbook_types, *(playbook.labels or [])]:
        looks_like_technique = re.match(r"^[Tt]\d", tag) is not None
        if 0 < len(tag) <= 64 and tag not in tags and (not looks_like_technique or re.match(TECHNIQUE_PATTERN, tag)):
            tags.append(tag)
    return tags
