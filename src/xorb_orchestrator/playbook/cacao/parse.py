"""From parsed JSON to a CacaoPlaybook; pydantic's errors turned into `step '<id>' field '<path>': ...` lines."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from xorb_orchestrator.playbook.cacao.models import (
    IDENTIFIER_PATTERN,
    STEP_TYPES,
    SUPPORTED_COMMAND_TYPES,
    TIMESTAMP_PATTERN,
    VARIABLE_NAME_PATTERN,
    CacaoPlaybook,
    HttpApiCommand,
    ManualCommand,
    OpenC2HttpCommand,
    StepBase,
)
from xorb_orchestrator.playbook.errors import PlaybookError, PlaybookInvalid, suggestion

SPEC_VERSION = "cacao-2.0"

_PATTERNS = {
    IDENTIFIER_PATTERN: "must be a CACAO identifier: <object type>--<UUID>",
    VARIABLE_NAME_PATTERN: "must be a variable name such as __name__ (letters, digits, '_', '-')",
    TIMESTAMP_PATTERN: "must be an RFC 3339 UTC time such as 2024-05-01T00:00:00.000Z",
}

# Every field name of the format we model, for "did you mean" hints on unknown keys.
_KNOWN_FIELDS = frozenset(
    {
        info.alias or name
        for model in (CacaoPlaybook, HttpApiCommand, OpenC2HttpCommand, ManualCommand)
        for name, info in model.model_fields.items()
    }
    | {info.alias or name for model in StepBase.__subclasses__() for name, info in model.model_fields.items()}
)


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
    return PlaybookError(_message(detail, field), step, field or None)


def _message(detail: ErrorDetails, field: str) -> str:
    kind, value, context = detail["type"], detail["input"], detail.get("ctx") or {}
    name = field.rsplit(".", 1)[-1]
    if kind == "missing":
        return "missing required field"
    if kind == "extra_forbidden":
        return "unknown field" + suggestion(name, _KNOWN_FIELDS)
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
        return f"{detail['msg'][0].lower()}{detail['msg'][1:]}, got {type(value).__name__} {value!r}"
    return str(detail["msg"])


def _path(parts: list[int | str]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
