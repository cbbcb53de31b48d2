"""CEL expressions: compile once (cached), evaluate over plain JSON data, get plain JSON back.

CEL (cel-python, pure Python) is side-effect free and terminates: no I/O, no clocks, no access to Python
objects — only the JSON values handed to it. That makes it safe to evaluate inside a Temporal workflow.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

from pydantic_core import to_jsonable_python
from temporalio import workflow

# Inside Temporal's workflow sandbox, cel-python's dependencies (pendulum, lark, re2) cannot be re-imported:
# they are deterministic libraries, so they are shared with the host. Outside a workflow this is a no-op.
with workflow.unsafe.imports_passed_through():
    import celpy
    import lark
    from celpy import celtypes

MAX_EXPRESSION_LENGTH = 4096

_ENVIRONMENT: celpy.Environment | None = None
_LOCK = threading.RLock()


class ExpressionError(ValueError):
    """An expression cannot be compiled, or its evaluation failed; the message is one line for users."""


@dataclass(frozen=True, eq=False)
class CompiledExpression:
    """A parsed CEL expression, ready to evaluate any number of times."""

    text: str
    ast: lark.Tree
    program: celpy.Runner

    def __repr__(self) -> str:
        return f"CompiledExpression({self.text!r})"


def _environment() -> celpy.Environment:
    global _ENVIRONMENT
    with _LOCK:
        if _ENVIRONMENT is None:
            _ENVIRONMENT = celpy.Environment()  # the interpreted runner: the transpiling one uses exec()
        return _ENVIRONMENT


@lru_cache(maxsize=4096)
def compile_expression(text: str) -> CompiledExpression:
    """Parse a CEL expression; raise ExpressionError ("syntax error at column N ...") when it is not valid CEL."""
    if not text.strip():
        raise ExpressionError("empty expression")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    environment = _environment()
    with _LOCK:
        try:
            ast = environment.compile(text)
        except celpy.CELParseError as exc:
            raise ExpressionError(_syntax_message(text, exc)) from None
        except (lark.exceptions.LarkError, RecursionError) as exc:  # pragma: no cover - parser internals
            raise ExpressionError(f"invalid CEL expression: {exc}") from None
        program = environment.program(ast)
    return CompiledExpression(text=text, ast=ast, program=program)


def _syntax_message(text: str, exc: celpy.CELParseError) -> str:
    line, column = exc.line, exc.column
    if "${{" in text:
        return "invalid CEL: conditions are plain CEL, without ${{ }}"
    where = f"column {column}" if (line or 1) == 1 else f"line {line} column {column}"
    lines = text.splitlines() or [text]
    source = lines[(line or 1) - 1] if (line or 1) <= len(lines) else text
    near = source[(column or 1) - 1 :].strip()[:20]
    return f"invalid CEL: syntax error at {where}" + (f" near {near!r}" if near else " (unexpected end)")


def evaluate(compiled: CompiledExpression | str, context: Mapping[str, Any]) -> Any:
    """Evaluate over `context` (names -> JSON values) and return the value as plain JSON.

    Raises ExpressionError when evaluation fails (a missing key, a type mismatch, division by zero ...).
    """
    expression = compile_expression(compiled) if isinstance(compiled, str) else compiled
    activation = {name: celpy.json_to_cel(to_jsonable_python(value)) for name, value in context.items()}
    try:
        value = expression.program.evaluate(activation)
    except celpy.CELEvalError as exc:
        raise ExpressionError(f"{expression.text!r}: {_eval_message(exc)}") from None
    except ExpressionError:
        raise
    except Exception as exc:  # celpy may surface plain Python errors for odd inputs; users get one line
        raise ExpressionError(f"{expression.text!r}: {type(exc).__name__}: {exc}") from None
    if isinstance(value, celpy.CELEvalError):
        raise ExpressionError(f"{expression.text!r}: {_eval_message(value)}")
    return to_json(value)


def evaluate_condition(compiled: CompiledExpression | str, context: Mapping[str, Any]) -> bool:
    """Evaluate a condition (`when`, `if`); anything but a boolean is an error, never silently truthy."""
    value = evaluate(compiled, context)
    if not isinstance(value, bool):
        text = compiled if isinstance(compiled, str) else compiled.text
        raise ExpressionError(f"{text!r}: expected a boolean, got {_json_type(value)}")
    return value


def evaluate_list(compiled: CompiledExpression | str, context: Mapping[str, Any]) -> list[Any]:
    """Evaluate a `for_each` expression; anything but a list is an error."""
    value = evaluate(compiled, context)
    if not isinstance(value, list):
        text = compiled if isinstance(compiled, str) else compiled.text
        raise ExpressionError(f"{text!r}: expected a list, got {_json_type(value)}")
    return value


def to_json(value: Any) -> Any:
    """Convert a CEL value to plain JSON: bool, int, float, str, None, list, dict (string keys)."""
    if value is None or isinstance(value, celtypes.NullType):
        return None
    if isinstance(value, celtypes.BoolType | bool):
        return bool(value)
    if isinstance(value, celtypes.IntType | celtypes.UintType | int):
        return int(value)
    if isinstance(value, celtypes.DoubleType | float):
        number = float(value)
        if not math.isfinite(number):
            raise ExpressionError(f"result {number} is not a finite number")
        return number
    if isinstance(value, celtypes.StringType | str):
        return str(value)
    if isinstance(value, celtypes.TimestampType):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, celtypes.DurationType | timedelta):
        return f"{value.total_seconds():g}s"
    if isinstance(value, celtypes.BytesType | bytes):
        raise ExpressionError("result is bytes, which has no JSON form; convert it with string()")
    if isinstance(value, celtypes.MapType | dict):
        return {_key_text(key): to_json(item) for key, item in value.items()}
    if isinstance(value, celtypes.ListType | list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, celtypes.TypeType | type):
        return _TYPE_NAMES.get(value, getattr(value, "__name__", str(value)))
    raise ExpressionError(f"result of type {type(value).__name__} has no JSON form")


def _key_text(key: Any) -> str:
    plain = to_json(key)
    return plain if isinstance(plain, str) else ("true" if plain is True else "false" if plain is False else str(plain))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "object"}
    return names.get(type(value), type(value).__name__)


_TYPE_NAMES: dict[Any, str] = {
    celtypes.BoolType: "bool",
    celtypes.IntType: "int",
    celtypes.UintType: "uint",
    celtypes.DoubleType: "double",
    celtypes.StringType: "string",
    celtypes.BytesType: "bytes",
    celtypes.ListType: "list",
    celtypes.MapType: "map",
    celtypes.TimestampType: "google.protobuf.Timestamp",
    celtypes.DurationType: "google.protobuf.Duration",
    type(None): "null_type",
}
_CEL_CLASS = re.compile(r"<class 'celpy\.celtypes\.(\w+)Type'>")


def _eval_message(exc: celpy.CELEvalError) -> str:
    message = str(exc.args[0]) if exc.args else "evaluation failed"
    message = message.split(" (in activation", 1)[0]
    overload = re.match(r"found no matching overload for (?:Token\('RULE', '(\w+)'\)|(\S+)) applied to '(.*)'", message)
    if overload:
        operator = (overload.group(1) or overload.group(2)).split("_")[-1]
        operands = _CEL_CLASS.sub(lambda m: m.group(1).lower(), overload.group(3))
        message = f"no {operator} operation for {operands}"
    return message[:300]
