"""The native playbook's own fields from the CACAO playbook: version, description, tags, and the inputs that its
`playbook_variables` become."""

from __future__ import annotations

import re
from typing import Any

from xorb_orchestrator.playbook.cacao.models import CacaoPlaybook
from xorb_orchestrator.playbook.cacao.variables import (
    VariableError,
    input_name,
    input_type,
    typed_value,
    valid_input_name,
)
from xorb_orchestrator.playbook.errors import PlaybookError
from xorb_orchestrator.playbook.metadata import TECHNIQUE_PATTERN


def native_version(modified: str) -> str:
    """A native version from the `modified` timestamp: 2024-05-01T10:20:30.000Z -> 2024.05.01-102030.000."""
    date, _, time = modified.rstrip("Z").partition("T")
    return date.replace("-", ".") + "-" + time.replace(":", "")


def native_description(playbook: CacaoPlaybook) -> str:
    """The playbook's description, with a note of the CACAO playbook it was converted from."""
    note = f"Converted from CACAO 2.0 playbook {playbook.id} (modified {playbook.modified})."
    return f"{playbook.description}\n\n{note}" if playbook.description else note


def native_tags(playbook: CacaoPlaybook) -> list[str]:
    """`cacao`, the playbook types and the labels that are valid native tags (a technique id must be well formed)."""
    tags: list[str] = []
    for tag in ["cacao", *playbook.playbook_types, *(playbook.labels or [])]:
        looks_like_technique = re.match(r"^[Tt]\d", tag) is not None
        if 0 < len(tag) <= 64 and tag not in tags and (not looks_like_technique or re.match(TECHNIQUE_PATTERN, tag)):
            tags.append(tag)
    return tags


def native_inputs(playbook: CacaoPlaybook) -> tuple[dict[str, Any], list[PlaybookError]]:
    """(inputs, problems): a native input for each playbook variable, and the variables that cannot be one."""
    inputs: dict[str, Any] = {}
    problems: list[PlaybookError] = []
    owners: dict[str, str] = {}
    for name, variable in playbook.playbook_variables.items():
        field = f"playbook_variables.{name}"
        native = input_name(name)
        if not valid_input_name(native):
            problems.append(PlaybookError(f"becomes input '{native}': at most 64 letters, digits and '_'", field=field))
            continue
        if native in owners:
            problems.append(PlaybookError(f"becomes input '{native}', as '{owners[native]}' does", field=field))
            continue
        owners[native] = name
        spec: dict[str, Any] = {"type": input_type(variable)}
        if variable.description:
            spec["description"] = variable.description
        try:
            default = typed_value(variable)
        except VariableError as exc:
            problems.append(PlaybookError(str(exc), field=f"{field}.value"))
            continue
        if variable.external and variable.value is None:
            spec["required"] = True  # passed in by the caller, and no value to fall back on
        elif default is not None:
            spec["default"] = default
        inputs[native] = spec
    return inputs, problems
