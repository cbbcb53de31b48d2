"""CACAO variables (`__name__:value`) as native CEL: playbook variables become inputs, step outputs become reads
of `steps['<id>'].result.body`, and a reference becomes the value the variable has at that point of the run.

Native playbooks have no mutable variables, so the value at a point is computed from where it was last assigned:
the most recent step on the way that assigned it (`out_args`), falling back to earlier ones when that step may
not have run (`steps['x'].status == 'completed' ? ... : <earlier value>`), and finally to the initial value.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any

from xorb_orchestrator.playbook.cacao.models import CacaoPlaybook, Variable
from xorb_orchestrator.playbook.metadata import IDENTIFIER_PATTERN

# A reference in text: the name with its `:value` keyword (the specification requires it when using a variable).
REFERENCE = re.compile(r"__([A-Za-z_][A-Za-z0-9_-]{0,199})__:value")
MAX_VALUE_EXPRESSION = 2000  # characters of CEL for one variable read; the whole expression may have 4096

_INTEGER_TYPES = {"integer", "long"}
_INPUT_TYPES = {"integer": "integer", "long": "integer", "float": "number", "bool": "boolean", "dictionary": "object"}
_CEL_RESERVED = {
    "as", "break", "const", "continue", "else", "false", "for", "function", "if", "import", "in", "let", "loop",
    "package", "namespace", "null", "return", "true", "var", "void", "while",
}  # fmt: skip


class VariableError(ValueError):
    """A variable reference that cannot be resolved or expressed; the message is one line for users."""


def input_name(variable: str) -> str:
    """The native input for a playbook variable: `__src_ip__` -> `src_ip` (a '-' becomes '_')."""
    return variable[2:-2].replace("-", "_")


def valid_input_name(name: str) -> bool:
    return re.match(IDENTIFIER_PATTERN, name) is not None


def input_type(variable: Variable) -> str:
    """The native input type of a CACAO variable type (ipv4-addr, uuid, hash ... are strings)."""
    return _INPUT_TYPES.get(variable.type, "string")


def typed_value(variable: Variable) -> Any:
    """The variable's initial value as JSON of its type: "0" of an integer is 0; "" of a non-string is null.

    Raises VariableError when the text is not of the declared type.
    """
    value, kind = variable.value, input_type(variable)
    if value is None or isinstance(value, dict):
        return value
    if kind == "string":
        return value
    if value == "":
        return None
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean" and value in ("true", "false"):
            return value == "true"
        if kind == "object":
            parsed = json.loads(value)
            if isinstance(parsed, dict):
                return parsed
    except ValueError:
        pass
    raise VariableError(f"{value!r} is not a {'whole number' if kind == 'integer' else kind} ({variable.type})")


def cel_literal(value: Any) -> str:
    """A JSON value as a CEL literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a double-quoted string with JSON escapes: valid CEL
    if isinstance(value, list):
        return "[" + ", ".join(cel_literal(item) for item in value) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k))}: {cel_literal(v)}" for k, v in value.items()) + "}"


def input_reference(name: str) -> str:
    return f"inputs['{name}']" if name in _CEL_RESERVED else f"inputs.{name}"


def step_reference(step_id: str) -> str:
    return f"steps['{step_id}']"


def output_reference(step_id: str, name: str) -> str:
    """CEL reading one output of an approval step: `steps['<id>'].result.<name>`."""
    field = f"['{name}']" if name in _CEL_RESERVED else f".{name}"
    return f"{step_reference(step_id)}.result{field}"


@dataclass(frozen=True)
class Assignment:
    """A step that sets a variable: after it completed, the variable is `value` (CEL)."""

    variable: str
    step: str
    value: str
    # Whether the step has certainly completed wherever this scope is read (it is on the way, not in a branch
    # that may not have run, and its failure would have stopped the run).
    sure: bool


@dataclass
class Scope:
    """What a step being converted sees: earlier assignments, step variables of itself and enclosing steps, and
    whether a failure here may jump to the playbook's exception handler."""

    assignments: list[Assignment] = field(default_factory=list)
    local: dict[str, Variable] = field(default_factory=dict)
    to_handler: bool = True

    def copy(self, **changes: Any) -> Scope:
        return replace(self, assignments=list(self.assignments), local=dict(self.local), **changes)

    def merge(self, inner: Scope, before: int, sure: bool) -> None:
        """Add the assignments `inner` made (after its first `before`), as certain or not."""
        for assignment in inner.assignments[before:]:
            self.assignments.append(assignment if sure else replace(assignment, sure=False))


class Variables:
    """The variables of one playbook: declarations, initial values and reads at a point of the run."""

    def __init__(self, playbook: CacaoPlaybook) -> None:
        self.playbook = playbook
        self.global_ = playbook.playbook_variables
        # Step variables by name, first declaration first (SOARCA-style playbooks declare one in several steps).
        self.anywhere: dict[str, Variable] = {}
        for step in playbook.workflow.values():
            for name, variable in step.step_variables.items():
                self.anywhere.setdefault(name, variable)

    def declared(self, name: str) -> bool:
        return name in self.global_ or name in self.anywhere

    def known(self) -> list[str]:
        return sorted({*self.global_, *self.anywhere})

    def declaration(self, name: str, scope: Scope) -> Variable | None:
        return scope.local.get(name) or self.global_.get(name) or self.anywhere.get(name)

    def unknown_message(self, name: str) -> str:
        known = ", ".join(self.known()) or "none"
        return f"unknown variable '{name}' (declared: {known})"

    def initial(self, name: str, scope: Scope) -> str:
        """CEL for the value before any step assigned it: an input, or a step variable's declared value."""
        if name in scope.local:
            return cel_literal(typed_value(scope.local[name]))
        if name in self.global_:
            return input_reference(input_name(name))
        if name in self.anywhere:
            return cel_literal(typed_value(self.anywhere[name]))
        raise VariableError(self.unknown_message(name))

    def read(self, name: str, scope: Scope) -> str:
        """CEL giving the variable's value at this point of the run."""
        expression = self.initial(name, scope)
        count = 0
        for assignment in scope.assignments:
            if assignment.variable != name:
                continue
            if assignment.sure:
                expression, count = assignment.value, 1
            else:
                completed = f"{step_reference(assignment.step)}.status == 'completed'"
                expression, count = f"({completed} ? {assignment.value} : {expression})", count + 1
        if len(expression) > MAX_VALUE_EXPRESSION:
            raise VariableError(
                f"the value of '{name}' here depends on {count} earlier steps that may or may not have run "
                "(it is assigned inside a loop or on many paths): it cannot be written as one expression"
            )
        return expression

    def coerced(self, name: str, scope: Scope, numeric: str | None) -> str:
        """`read`, converted for a numeric comparison: int(...) or double(...) when `numeric` says so."""
        expression = self.read(name, scope)
        declaration = self.declaration(name, scope)
        if numeric is None:
            return expression
        if numeric == "double" or (declaration is not None and declaration.type == "float"):
            return f"double({expression})"
        return f"int({expression})"

    def template(self, text: str, scope: Scope) -> str:
        """Text with `__name__:value` references as a native template (`${{ <CEL> }}` pieces)."""
        escaped = text.replace("${{", "$${{")
        return REFERENCE.sub(lambda found: "${{ " + self.read(f"__{found.group(1)}__", scope) + " }}", escaped)

    def template_value(self, value: Any, scope: Scope) -> Any:
        """`template` applied to every string of a JSON value."""
        if isinstance(value, str):
            return self.template(value, scope)
        if isinstance(value, dict):
            return {key: self.template_value(item, scope) for key, item in value.items()}
        if isinstance(value, list):
            return [self.template_value(item, scope) for item in value]
        return value


def references(text: str) -> list[str]:
    """The variable names referenced in a text (`__name__`), in order."""
    return [f"__{found.group(1)}__" for found in REFERENCE.finditer(text)]


def is_numeric_type(variable: Variable | None) -> str | None:
    """ "int" or "double" for numeric CACAO variable types, else None."""
    if variable is None:
        return None
    if variable.type in _INTEGER_TYPES:
        return "int"
    return "double" if variable.type == "float" else None
