"""Validation of a parsed CACAO playbook: the graph, every variable reference, then the conversion itself (which
refuses what cannot be translated exactly: conditions, commands, unbounded loops)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator

from xorb_orchestrator.playbook.cacao.convert import DEFAULT_WHILE_MAX_ITERATIONS, Conversion, convert_workflow
from xorb_orchestrator.playbook.cacao.graph import Graph, graph_problems
from xorb_orchestrator.playbook.cacao.models import (
    ActionStep,
    CacaoPlaybook,
    HttpApiCommand,
    IfConditionStep,
    ManualCommand,
    OpenC2HttpCommand,
    SwitchConditionStep,
    Variable,
    WhileConditionStep,
)
from xorb_orchestrator.playbook.cacao.variables import Variables, references
from xorb_orchestrator.playbook.errors import PlaybookError, suggestion


def validate_cacao(playbook: CacaoPlaybook, max_iterations: int = DEFAULT_WHILE_MAX_ITERATIONS) -> list[PlaybookError]:
    """Every problem with a parsed CACAO playbook; [] when it converts to a native playbook."""
    return check_and_convert(playbook, max_iterations)[0]


def check_and_convert(
    playbook: CacaoPlaybook, max_iterations: int = DEFAULT_WHILE_MAX_ITERATIONS
) -> tuple[list[PlaybookError], Conversion | None]:
    """(problems, conversion): the conversion is None when the graph or the references are wrong."""
    problems = variable_problems(playbook) + graph_problems(Graph(playbook)) + reference_problems(playbook)
    if problems:
        return problems, None
    conversion = convert_workflow(playbook, max_iterations)
    return conversion.errors, conversion


def variable_problems(playbook: CacaoPlaybook) -> list[PlaybookError]:
    """A variable's other property that looks like a misspelt field (`vaule`). The schema allows other
    properties, but this one would silently leave the variable without its value or its flags."""
    fields = frozenset(Variable.model_fields)
    declarations: list[tuple[str | None, str, dict[str, Variable]]] = [
        (None, "playbook_variables", playbook.playbook_variables)
    ]
    declarations += [(step_id, "step_variables", step.step_variables) for step_id, step in playbook.workflow.items()]
    problems: list[PlaybookError] = []
    for step_id, where, variables in declarations:
        for name, variable in variables.items():
            for key in variable.model_extra or {}:
                hint = suggestion(key, fields)
                if hint:
                    problems.append(PlaybookError("unknown field" + hint, step_id, f"{where}.{name}.{key}"))
    return problems


def reference_problems(playbook: CacaoPlaybook) -> list[PlaybookError]:
    """A `__name__:value` of no declared variable, in any step (reached or not) or agent/target address."""
    variables = Variables(playbook)
    problems: list[PlaybookError] = []
    for step, field, text in _texts(playbook):
        for name in references(text):
            if not variables.declared(name):
                problem = PlaybookError(variables.unknown_message(name), step, field)
                if problem not in problems:
                    problems.append(problem)
    return problems


def _texts(playbook: CacaoPlaybook) -> Iterator[tuple[str | None, str, str]]:
    """(step id, field, text) of every text that may reference variables."""
    for step_id, step in playbook.workflow.items():
        if isinstance(step, IfConditionStep | WhileConditionStep):
            yield step_id, "condition", step.condition
        if isinstance(step, SwitchConditionStep):
            yield step_id, "switch", step.switch + ":value" * (not step.switch.endswith(":value"))
        if not isinstance(step, ActionStep):
            continue
        for index, command in enumerate(step.commands):
            field = f"commands[{index}]"
            if isinstance(command, HttpApiCommand | OpenC2HttpCommand):
                yield step_id, f"{field}.command", command.command
                for name, values in command.headers.items():
                    for value in values:
                        yield step_id, f"{field}.headers.{name}", value
                if isinstance(command, HttpApiCommand) and command.content is not None:
                    yield step_id, f"{field}.content", command.content
                if command.content_b64 is not None:
                    yield step_id, f"{field}.content_b64", _decoded(command.content_b64)
            elif isinstance(command, ManualCommand):
                yield step_id, f"{field}.command", command.command or _decoded(command.command_b64 or "")
    for kind, definitions in (("agent", playbook.agent_definitions), ("target", playbook.target_definitions)):
        for definition_id, definition in definitions.items():
            for key, values in definition.address.items():
                for index, value in enumerate(values):
                    if isinstance(value, str):
                        yield None, f"{kind}_definitions.{definition_id}.address.{key}[{index}]", value


def _decoded(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return ""  # the conversion reports it
