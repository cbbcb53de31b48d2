"""From parsed JSON to a CacaoPlaybook; pydantic's errors turned into `step '<id>' field '<path>': ...` lines."""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError
from pydantic_core import ErrorDetails

from xorb_orchestrator.playbook.cacao.models import (
    IDENTIFIER_PATTERN,
    STEP_TYPES,
    SUPPORTED_COMMAND_TYPES,
    TIMESTAMP_PATTERN,
    VARIABLE_NAME_PATTERN,
    CacaoPlaybook,
)
from xorb_orchestrator.playbook.errors import PlaybookError, PlaybookInvalid, suggestion

SPEC_VERSION = "cacao-2.0"

_PATTERNS = {
    IDENTIFIER_PATTERN: "must be a CACAO identifier: <object type>--<UUID>",
    VARIABLE_NAME_PATTERN: "must be a variable name such as __name__ (letters, digits, '_', '-')",
    TIMESTAMP_PATTERN: "must be an RFC 3339 UTC time such as 2024-05-01T00:00:00.000Z",
}
MAX_SHOWN = 80  # characters of a wrong value quoted in a message


def is_cacao(data: Any) -> bool:
    """Whether parsed JSON is a CACAO playbook (`spec_version: cacao-...` or `type: playbook`), not a native one."""
    if not isinstance(data, dict):
        return False
    version = data.get("spec_version")
    return (isinstance(version, str) and version.startswith("cacao")) or data.get("type") == "playbook"


def parse_cacao(data: Any) -> CacaoPlaybook:
    """Build the model; raise PlaybookInvalid listing every structural problem (unknown keys, types, commands)."""
    if not isinstance(data, dict):
        raise PlaybookInvalid([PlaybookError("a CACAO playbook is a JSON object")])
    try:
        return CacaoPlaybook.model_validate(data)
    except ValidationError as exc:
        found: list[PlaybookError] = []
        for detail in exc.errors():
            error = _translate(detail)
            if error not in found:
                found.append(error)
        raise PlaybookInvalid(found) from None


def _translate(detail: ErrorDetails) -> PlaybookError:
    loc = list(detail["loc"])
    step: str | None = None
    if len(loc) >= 2 and loc[0] == "workflow":
        step = str(loc[1])
        loc = loc[2:]
        if loc and loc[0] in STEP_TYPES:  # the union's tag
            loc = loc[1:]
    # commands[i] is a union too: drop its tag.
    cleaned: list[int | str] = []
    for index, part in enumerate(loc):
        if index >= 2 and loc[index - 2] == "commands" and part in SUPPORTED_COMMAND_TYPES:
            continue
        cleaned.append(part)
    field = _path(cleaned)
    kind, value = detail["type"], detail["input"]
    if kind == "cacao_command_type":
        found = value.get("type") if isinstance(value, dict) else value
        supported = ", ".join(SUPPORTED_COMMAND_TYPES)
        return PlaybookError(f"unsupported command type '{found}' (supported: {supported})", step)
    if kind == "cacao_step_type":
        found = value.get("type") if isinstance(value, dict) else value
        known = ", ".join(STEP_TYPES)
        if isinstance(value, dict) and "type" not in value:
            return PlaybookError(f"missing required field (one of: {known})", step, "type")
        return PlaybookError(f"unknown workflow step type '{found}' (one of: {known})", step, "type")
    if kind == "extra_forbidden":
        name = str(detail["loc"][-1])
        hint = suggestion(name, object_fields(detail["loc"][:-1]) - {name})
        return PlaybookError("unknown field" + hint, step, field or None)
    return PlaybookError(_message(detail, field), step, field or None)


def object_fields(loc: Sequence[int | str]) -> frozenset[str]:
    """The field names of the object at a pydantic error location (its own type's: a hint for an unknown key
    must name a field that object may have, not one of another type)."""
    annotation: Any = CacaoPlaybook
    for part in loc:
        annotation = _inner(_unwrap(annotation), part)
        if annotation is None:
            return frozenset()
    model = _unwrap(annotation)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return frozenset()
    return frozenset(info.alias or name for name, info in model.model_fields.items())


def _unwrap(annotation: Any) -> Any:
    """The type inside Annotated[...] and `X | None`."""
    while True:
        origin, args = get_origin(annotation), get_args(annotation)
        if origin is Annotated:
            annotation = args[0]
        elif origin in (Union, types.UnionType) and len(args) == 2 and type(None) in args:
            annotation = args[0] if args[1] is type(None) else args[1]
        else:
            return annotation


def _inner(annotation: Any, part: int | str) -> Any:
    """The type one location part further in: a model's field, a list's item, a dict's value, a union's tag."""
    origin = get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = {info.alias or name: info for name, info in annotation.model_fields.items()}
        found = fields.get(str(part))
        return found.annotation if found is not None else None
    if origin is list:
        return get_args(annotation)[0]
    if origin is dict:
        return get_args(annotation)[1]
    if origin in (Union, types.UnionType):  # a tagged union: pydantic puts the member's tag in the location
        for member in get_args(annotation):
            if any(isinstance(meta, Tag) and meta.tag == part for meta in getattr(member, "__metadata__", ())):
                return member
    return None


def _message(detail: ErrorDetails, field: str) -> str:
    kind, value, context = detail["type"], detail["input"], detail.get("ctx") or {}
    if kind == "missing":
        return "missing required field"
    if kind == "string_pattern_mismatch":
        pattern = str(context.get("pattern"))
        return f"{_PATTERNS.get(pattern, 'must match ' + pattern)}, got {value!r}"
    if kind == "literal_error":
        if field == "spec_version":
            return f"only {SPEC_VERSION} playbooks are supported, got {value!r}"
        return f"must be {context.get('expected')}, got {value!r}"
    if kind in ("too_short", "string_too_short"):
        return (
            "must not be empty" if not context.get("min_length", 1) > 1 else f"needs at least {context['min_length']}"
        )
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {context.get('ge', context.get('gt'))}, got {value!r}"
    if kind in ("less_than_equal", "less_than"):
        return f"must be at most {context.get('le', context.get('lt'))}, got {value!r}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{detail['msg'][0].lower()}{detail['msg'][1:]}, got {_shown(value)}"
    return str(detail["msg"])


def _shown(value: Any) -> str:
    """A wrong value for a message: its type, and its text when short (a whole workflow is not quoted)."""
    if value is None:
        return "null"
    text = repr(value)
    kind = type(value).__name__
    return f"{kind} {text}" if len(text) <= MAX_SHOWN else f"{kind} {text[: MAX_SHOWN - 5]}...{text[-1]}"


def _path(parts: list[int | str]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
