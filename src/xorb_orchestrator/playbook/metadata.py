"""Playbook metadata and declared inputs."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, field_validator

PLAYBOOK_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
STEP_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
VERSION_PATTERN = r"^\d+(\.\d+){0,2}(-[0-9A-Za-z.-]+)?$"
TECHNIQUE_PATTERN = r"^T\d{4}(\.\d{3})?$"

_TECHNIQUE = re.compile(TECHNIQUE_PATTERN)
_LOOKS_LIKE_TECHNIQUE = re.compile(r"^[Tt]\d")


class Strict(BaseModel):
    """Base of every playbook model: unknown keys are errors, so a typo'd key never goes unnoticed."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, frozen=True)


PlaybookId = Annotated[
    str,
    StringConstraints(pattern=PLAYBOOK_ID_PATTERN),
    Field(description="Playbook id: lower-case letters, digits, '.', '_' and '-', at most 64 characters."),
]
StepId = Annotated[
    str,
    StringConstraints(pattern=STEP_ID_PATTERN),
    Field(
        description="Step id, unique across the whole playbook (nested steps included): a letter, then letters, "
        "digits, '_' or '-'. Expressions refer to it as steps.<id>, or steps['<id>'] when it contains '-'."
    ),
]


def _check_tag(tag: str) -> str:
    if _LOOKS_LIKE_TECHNIQUE.match(tag) and not _TECHNIQUE.match(tag):
        raise ValueError(f"{tag!r} looks like an ATT&CK technique id but is not of the form T1234 or T1234.001")
    return tag


Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_check_tag),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "pattern": r"^(?![Tt][0-9])|^T[0-9]{4}(\.[0-9]{3})?$",
            "description": "A free-form tag, or an ATT&CK technique id (T1234 or T1234.001).",
        }
    ),
]


class InputType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    LIST = "list"
    OBJECT = "object"

    def accepts(self, value: Any) -> bool:
        """Whether a JSON value is of this type (booleans are not numbers; integers are numbers)."""
        if self is InputType.BOOLEAN:
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        checks: dict[InputType, type | tuple[type, ...]] = {
            InputType.STRING: str,
            InputType.INTEGER: int,
            InputType.NUMBER: (int, float),
            InputType.LIST: list,
            InputType.OBJECT: dict,
        }
        return isinstance(value, checks[self])


class InputSpec(Strict):
    """One declared input. Expressions read it as `inputs.<name>`."""

    type: InputType = Field(description="The JSON type of the value.")
    required: bool = Field(False, description="The run is refused when a required input is not given.")
    default: Any = Field(None, description="Value used when the input is not given (must match `type`).")
    description: str = Field("", description="What the input means, for people.")
    target: Literal["external", "internal"] | None = Field(
        None,
        description="When the response policy fills this input from its targets: the side they must be on "
        "(external: outside our networks and inventory, e.g. an address to block; internal: ours, e.g. a host to "
        "isolate). The planner refuses to run the playbook on a target of the other side.",
    )


class PlaybookMetadata(Strict):
    """Who the playbook is: id, name, version, description and tags."""

    id: PlaybookId
    name: str = Field(min_length=1, max_length=200, description="Human-readable name.")
    version: Annotated[str, StringConstraints(pattern=VERSION_PATTERN)] = Field(
        description='Version of this playbook, e.g. "1", "1.2" or "1.2.3" (quote it in YAML).'
    )
    description: str = Field("", description="What the playbook does and when it applies.")
    tags: list[Tag] = Field(default_factory=list, description="Tags, including ATT&CK technique ids.")
    inputs: dict[Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)], InputSpec] = Field(
        default_factory=dict,
        description="Declared inputs by name (a CEL identifier: letters, digits and '_').",
    )

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return str(value)  # `version: 2` in YAML: lossless
        if isinstance(value, float):
            raise ValueError(f'write the version as a quoted string, e.g. version: "{value}"')
        return value

    @property
    def techniques(self) -> list[str]:
        """The ATT&CK technique ids among the tags."""
        return [tag for tag in self.tags if _TECHNIQUE.match(tag)]


class InputError(ValueError):
    """The inputs given to a run do not match what the playbook declares."""


def resolve_inputs(declared: dict[str, InputSpec], given: dict[str, Any]) -> dict[str, Any]:
    """The `inputs` map of a run: every declared input, from `given`, else its default, else null.

    Raises InputError for an unknown input, a missing required one or a value of the wrong type.
    """
    unknown = sorted(set(given) - set(declared))
    if unknown:
        names = ", ".join(sorted(declared)) or "none"
        raise InputError(f"unknown input {unknown[0]!r} (declared: {names})")
    resolved: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in given and given[name] is not None:
            value = given[name]
            if not spec.type.accepts(value):
                raise InputError(f"input {name!r}: expected {spec.type.value}, got {type_name(value)}")
        elif spec.required:
            raise InputError(f"missing required input {name!r}")
        else:
            value = spec.default
        resolved[name] = value
    return resolved


def type_name(value: Any) -> str:
    """The playbook type name of a JSON value, for messages."""
    for kind in (InputType.BOOLEAN, InputType.INTEGER, InputType.NUMBER, InputType.STRING, InputType.LIST):
        if kind.accepts(value):
            return kind.value
    return "null" if value is None else InputType.OBJECT.value if isinstance(value, dict) else type(value).__name__
