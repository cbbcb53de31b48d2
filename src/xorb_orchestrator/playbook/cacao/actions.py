"""CACAO action steps as native steps: an `action` step becomes one native step per command (an http.request
action or an approval), a `playbook-action` step a native child playbook step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xorb_orchestrator.playbook.cacao.commands import CommandError, http_action, manual_approval, milliseconds
from xorb_orchestrator.playbook.cacao.failures import CONTINUE
from xorb_orchestrator.playbook.cacao.models import ActionStep, ManualCommand, PlaybookActionStep, Variable
from xorb_orchestrator.playbook.cacao.native import describe
from xorb_orchestrator.playbook.cacao.variables import (
    Assignment,
    Scope,
    VariableError,
    input_name,
    output_reference,
    step_reference,
    valid_input_name,
)

if TYPE_CHECKING:
    from xorb_orchestrator.playbook.cacao.walk import Walk


def action_steps(
    walk: Walk, step_id: str, step: ActionStep, scope: Scope, suffix: str, policy: dict[str, Any]
) -> list[dict[str, Any]]:
    """One native step per command; the step's out_args are assigned the last command's result (an HTTP
    response body, or the values the person gives with a manual command's approval)."""
    manual = isinstance(step.commands[-1], ManualCommand)
    out_args = _out_args(walk, step_id, step, scope, manual)
    emitted: list[dict[str, Any]] = []
    for index, command in enumerate(step.commands):
        native_id = walk.ids.make(step_id, suffix if index == 0 else f"{suffix}-c{index + 1}")
        try:
            if isinstance(command, ManualCommand):
                last = index == len(step.commands) - 1
                outputs = {output: description for _, output, description in out_args} if last else {}
                body = manual_approval(walk.playbook, step, index, walk.variables, scope, outputs)
            else:
                body = http_action(walk.playbook, step, index, walk.variables, scope)
                body["retry"] = {"max_attempts": 1}  # CACAO has no retries: a command runs once
                if step.timeout:
                    body["timeout"] = milliseconds(step.timeout)
        except CommandError as exc:
            walk.error(str(exc), step_id, exc.field)
            continue
        except VariableError as exc:
            walk.error(str(exc), step_id, f"commands[{index}]")
            continue
        native: dict[str, Any] = {"id": native_id, **describe(step), **body, **policy}
        if emitted and policy == CONTINUE:  # a later command runs only when the one before succeeded
            native["when"] = f"{step_reference(emitted[-1]['id'])}.status == 'completed'"
        emitted.append(native)
    _check_in_args(walk, step_id, step.in_args)
    if emitted:
        last_id = emitted[-1]["id"]
        for variable, output, _ in out_args:
            value = output_reference(last_id, output) if manual else f"{step_reference(last_id)}.result.body"
            scope.assignments.append(Assignment(variable, last_id, value, sure=policy != CONTINUE))
    return emitted


def _out_args(walk: Walk, step_id: str, step: ActionStep, scope: Scope, manual: bool) -> list[tuple[str, str, str]]:
    """(variable, approval output name, description) of each out_arg that can be assigned; the others are errors.

    After a manual command the person gives the values, each asked by the variable's name as a native name.
    """
    found: list[tuple[str, str, str]] = []
    for index, name in enumerate(step.out_args):
        field = f"out_args[{index}]"
        declaration = _assignable(walk, step_id, field, name, scope)
        if declaration is None:
            continue
        output = input_name(name)
        if manual and not valid_input_name(output):
            walk.error(f"'{name}' is too long to be asked in an approval (at most 64 characters)", step_id, field)
        elif manual and any(output == other for _, other, _ in found):
            walk.error(f"'{name}' would be asked as '{output}', like another out_arg", step_id, field)
        else:
            found.append((name, output, declaration.description))
    return found


def playbook_action_step(
    walk: Walk, step_id: str, step: PlaybookActionStep, scope: Scope, suffix: str, policy: dict[str, Any]
) -> list[dict[str, Any]]:
    """A native child playbook step, its inputs the step's in_args."""
    _check_in_args(walk, step_id, step.in_args)
    if step.out_args:
        walk.error("a native child playbook returns its steps' states, not variables: out_args is not "
                   "supported", step_id, "out_args")  # fmt: skip
    inputs: dict[str, Any] = {}
    for index, name in enumerate(step.in_args):
        if not walk.variables.declared(name):
            continue
        try:
            inputs[input_name(name)] = "${{ " + walk.variables.read(name, scope) + " }}"
        except VariableError as exc:
            walk.error(str(exc), step_id, f"in_args[{index}]")
    native: dict[str, Any] = {
        "id": walk.ids.make(step_id, suffix),
        **describe(step),
        "playbook": step.playbook_id.lower(),
        "inputs": inputs,
        **policy,
    }
    if step.timeout:
        native["timeout"] = milliseconds(step.timeout)
    return [native]


def _check_in_args(walk: Walk, step_id: str, names: list[str]) -> None:
    for index, name in enumerate(names):
        if not walk.variables.declared(name):
            walk.error(walk.variables.unknown_message(name), step_id, f"in_args[{index}]")


def _assignable(walk: Walk, step_id: str, field: str, name: str, scope: Scope) -> Variable | None:
    """The declaration of a variable a step may assign, or None (and an error)."""
    declaration = walk.variables.declaration(name, scope)
    if declaration is None:
        walk.error(walk.variables.unknown_message(name), step_id, field)
        return None
    if declaration.constant:
        walk.error(f"variable '{name}' is a constant", step_id, field)
        return None
    return declaration
