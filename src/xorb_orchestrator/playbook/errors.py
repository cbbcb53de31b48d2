"""Validation errors as users read them: `step 'block-ip' field 'args.ip': <what is wrong>`."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from xorb_orchestrator.playbook import metadata, policies
from xorb_orchestrator.playbook.steps import STEP_KINDS


@dataclass(frozen=True)
class PlaybookError:
    """One problem: the step it is in (None for playbook-level fields), the field path and the message."""

    message: str
    step: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = " ".join(
            part
            for part in (f"step '{self.step}'" if self.step else "", f"field '{self.field}'" if self.field else "")
            if part
        )
        return f"{where}: {self.message}" if where else self.message


class PlaybookInvalid(ValueError):
    """A playbook failed to parse or validate; `errors` holds every problem found."""

    def __init__(self, errors: Iterable[PlaybookError]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(str(error) for error in self.errors))


_PATTERNS = {
    metadata.PLAYBOOK_ID_PATTERN: "must be lower-case letters, digits, '.', '_' or '-' (at most 64 characters)",
    metadata.STEP_ID_PATTERN: "must start with a letter, then letters, digits, '_' or '-' (at most 64 characters)",
    metadata.IDENTIFIER_PATTERN: "must be a name of letters, digits and '_' (not starting with a digit)",
    metadata.VERSION_PATTERN: 'must look like "1", "1.2" or "1.2.3"',
    policies.ACTION_NAME_PATTERN: "must be a dotted action name such as notify.webhook",
}
_TYPES = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "an object (mapping)",
    "model_type": "an object (mapping)",
    "model_attributes_type": "an object (mapping)",
}
# Where nested steps live: in the playbook, and in a step (by field).
_STEP_LISTS = {"then", "else", "default", "steps"}


@functools.cache
def known_fields() -> frozenset[str]:
    """Every field name of the playbook format, for "did you mean" suggestions."""
    names: set[str] = set()
    for model in _all_models():
        names.update(info.alias or name for name, info in model.model_fields.items())
    return frozenset(names)


def _all_models() -> Iterable[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [metadata.Strict]
    while todo:
        model = todo.pop()
        seen.append(model)
        todo.extend(model.__subclasses__())
    return seen


def suggestion(word: str, candidates: Iterable[str]) -> str:
    """ " (did you mean 'x'?)" when one candidate is close to `word`, else ""."""
    close = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


def errors_from_validation(exc: ValidationError, raw: Any) -> list[PlaybookError]:
    """Turn pydantic's errors into PlaybookErrors, located by step id and field path."""
    found: list[PlaybookError] = []
    for detail in exc.errors():
        error = _translate(detail, raw)
        if error not in found:
            found.append(error)
    return found


def _translate(detail: ErrorDetails, raw: Any) -> PlaybookError:
    step, field, node = _locate(detail["loc"], raw)
    kind = detail["type"]
    if kind == "step_kind":
        return _step_kind_error(step or field, node)
    key_error = field.endswith(".[key]")
    if key_error:
        field = field.removesuffix(".[key]")
    return PlaybookError(_message(detail, field, key_error), step=step, field=field or None)


def _message(detail: ErrorDetails, field: str, key_error: bool) -> str:
    kind, value, context = detail["type"], detail["input"], detail.get("ctx") or {}
    name = field.rsplit(".", 1)[-1]
    if kind == "missing":
        return "missing required field"
    if kind == "extra_forbidden":
        return "unknown field" + suggestion(name, known_fields())
    if kind == "string_pattern_mismatch":
        description = _PATTERNS.get(str(context.get("pattern")), f"must match {context.get('pattern')}")
        return f"{'name ' if key_error else ''}{value!r} {description}"
    if kind in _TYPES:
        return f"expected {_TYPES[kind]}, got {_describe(value)}"
    if kind in ("literal_error", "enum"):
        return f"expected {context.get('expected')}, got {value!r}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {context.get('ge', context.get('gt'))}, got {value!r}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {context.get('le', context.get('lt'))}, got {value!r}"
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {context.get('max_length')} characters long"
    if kind == "value_error":
        return str(context.get("error", detail["msg"]))
    return detail["msg"]


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "list", dict: "object"}
    kind = names.get(type(value), type(value).__name__)
    return f"{kind} {value!r}" if isinstance(value, bool | int | float | str) else kind


def _step_kind_error(step: str | None, node: Any) -> PlaybookError:
    kinds = ", ".join(STEP_KINDS)
    if not isinstance(node, dict):
        return PlaybookError(f"expected a step (an object with an id and one of: {kinds}), got {_describe(node)}", step)
    present = [key for key in STEP_KINDS if key in node]
    if len(present) > 1:
        both = " and ".join(f"'{key}'" for key in present)
        return PlaybookError(f"has {both}: a step has exactly one kind", step)
    for key in node:
        hint = suggestion(str(key), STEP_KINDS)
        if hint and key not in known_fields():
            return PlaybookError("unknown field" + hint, step, str(key))
    return PlaybookError(f"missing the step kind: add one of {kinds}", step)


def _locate(loc: tuple[int | str, ...], raw: Any) -> tuple[str | None, str, Any]:
    """(step id, field path inside that step, the raw value there) for a pydantic error location.

    Step lists hold a tagged union, so pydantic puts the step kind into the location after the index: skipped.
    A step without a usable id is named by its path (`steps[2].then[0]`).
    """
    step: str | None = None
    relative: list[int | str] = []
    absolute: list[int | str] = []
    node = raw
    state = "playbook"  # playbook | step | value | step-list | branch-list | case-map | tag
    for item in loc:
        if state == "tag":
            state = "step"
            continue
        absolute.append(item)
        node = _child(node, item)
        if state == "step-list":
            step = node["id"] if isinstance(node, dict) and isinstance(node.get("id"), str) else _path(absolute)
            relative, state = [], "tag"
            continue
        relative.append(item)
        if state in ("branch-list", "case-map"):
            state = "step-list"
        elif state in ("playbook", "step") and len(relative) == 1:
            state = _STATE_AFTER.get((state, str(item)), "value")
    return step, _path(relative), node


_STATE_AFTER = {
    ("playbook", "steps"): "step-list",
    **{("step", name): "step-list" for name in _STEP_LISTS},
    ("step", "cases"): "case-map",
    ("step", "parallel"): "branch-list",
}


def _path(parts: list[int | str]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _child(node: Any, key: int | str) -> Any:
    if isinstance(node, dict):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
        return node[key]
    return None
