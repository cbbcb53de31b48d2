"""OASIS CACAO 2.0 playbooks as pydantic models: the parts the converter reads.

Strict where a typo would silently change what runs (workflow steps and commands: unknown keys are errors, as
the specification's schemas say), tolerant where the schemas are (a variable may carry other properties, e.g.
SOARCA's `name`) and where CACAO has open vocabularies we do not interpret (agents and targets, markings,
extensions, signatures).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag

IDENTIFIER_PATTERN = (
    r"^[a-z][a-z0-9-]+[a-z0-9]--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-"
    r"[0-9a-fA-F]{12}$"
)
VARIABLE_NAME_PATTERN = r"^__[a-zA-Z_][a-zA-Z0-9_-]{0,199}__$"
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)"
    r"(\.[0-9]+)?Z$"
)

Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
VariableName = Annotated[str, StringConstraints(pattern=VARIABLE_NAME_PATTERN)]
Timestamp = Annotated[str, StringConstraints(pattern=TIMESTAMP_PATTERN)]
Score = Annotated[int, Field(ge=0, le=100)]

SUPPORTED_COMMAND_TYPES = ("http-api", "openc2-http", "manual")
STEP_TYPES = (
    "start",
    "end",
    "action",
    "playbook-action",
    "parallel",
    "if-condition",
    "while-condition",
    "switch-condition",
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Variable(Open):
    """A playbook or step variable (`__name__`); referenced as `__name__:value`. Other properties are kept
    unread: the specification's variable schema, unlike the step and command schemas, does not forbid them."""

    type: str
    description: str = ""
    value: str | dict[str, Any] | None = None
    constant: bool = False
    external: bool = False


# --- commands -----------------------------------------------------------------------------------------------


class CommandBase(Strict):
    type: str
    description: str = ""
    version: str | None = None
    playbook_activity: str | None = None
    external_references: list[Any] | None = None


class HttpApiCommand(CommandBase):
    """An HTTP request: `command` is the start line ('GET /path HTTP/1.1'), with optional headers and body."""

    type: Literal["http-api"]
    command: str
    headers: dict[str, list[str]] = Field(default_factory=dict)
    content: str | None = None
    content_b64: str | None = None


class OpenC2HttpCommand(CommandBase):
    """An OpenC2 command (base64 JSON) POSTed over HTTP."""

    type: Literal["openc2-http"]
    command: str
    headers: dict[str, list[str]] = Field(default_factory=dict)
    content_b64: str


class ManualCommand(CommandBase):
    """Something a person does; either `command` or `command_b64`."""

    type: Literal["manual"]
    command: str | None = None
    command_b64: str | None = None


def _command_type(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in SUPPORTED_COMMAND_TYPES else None


Command = Annotated[
    Annotated[HttpApiCommand, Tag("http-api")]
    | Annotated[OpenC2HttpCommand, Tag("openc2-http")]
    | Annotated[ManualCommand, Tag("manual")],
    Discriminator(
        _command_type,
        custom_error_type="cacao_command_type",
        custom_error_message="unsupported command type",
    ),
]


# --- workflow steps -----------------------------------------------------------------------------------------


class StepBase(Strict):
    """Properties every workflow step may have."""

    TYPE: ClassVar[str] = ""

    type: str
    name: str = ""
    description: str = ""
    external_references: list[Any] | None = None
    delay: int | None = Field(None, ge=0, description="Milliseconds to wait before the step starts.")
    timeout: int | None = Field(None, ge=1, description="Milliseconds after which the step has failed.")
    step_variables: dict[VariableName, Variable] = Field(default_factory=dict)
    owner: str | None = None
    on_completion: Identifier | None = None
    on_success: Identifier | None = None
    on_failure: Identifier | None = None
    step_extensions: dict[str, Any] | None = None

    def branches(self) -> list[tuple[str, str]]:
        """(field, step id) of the branches this step opens (condition and parallel steps)."""
        return []

    def next_steps(self) -> list[tuple[str, str]]:
        """(field, step id) of every step this one may lead to: branches, then continuations."""
        links = [
            (name, target)
            for name, target in (
                ("on_completion", self.on_completion),
                ("on_success", self.on_success),
                ("on_failure", self.on_failure),
            )
            if target is not None
        ]
        return [*self.branches(), *links]


class StartStep(StepBase):
    TYPE: ClassVar[str] = "start"
    type: Literal["start"]


class EndStep(StepBase):
    TYPE: ClassVar[str] = "end"
    type: Literal["end"]


class ActionStep(StepBase):
    TYPE: ClassVar[str] = "action"
    type: Literal["action"]
    commands: list[Command] = Field(min_length=1)
    agent: Identifier | None = None
    targets: list[Identifier] = Field(default_factory=list)
    in_args: list[str] = Field(default_factory=list)
    out_args: list[str] = Field(default_factory=list)


class PlaybookActionStep(StepBase):
    TYPE: ClassVar[str] = "playbook-action"
    type: Literal["playbook-action"]
    playbook_id: Identifier
    playbook_version: Timestamp | None = None
    in_args: list[str] = Field(default_factory=list)
    out_args: list[str] = Field(default_factory=list)


class ParallelStep(StepBase):
    TYPE: ClassVar[str] = "parallel"
    type: Literal["parallel"]
    next_steps_: list[Identifier] = Field(alias="next_steps", min_length=2)

    model_config = ConfigDict(populate_by_name=True)

    def branches(self) -> list[tuple[str, str]]:
        return [(f"next_steps[{index}]", target) for index, target in enumerate(self.next_steps_)]


class IfConditionStep(StepBase):
    TYPE: ClassVar[str] = "if-condition"
    type: Literal["if-condition"]
    condition: str = Field(min_length=1)
    on_true: Identifier
    on_false: Identifier | None = None

    def branches(self) -> list[tuple[str, str]]:
        found = [("on_true", self.on_true)]
        return [*found, ("on_false", self.on_false)] if self.on_false is not None else found


class WhileConditionStep(StepBase):
    TYPE: ClassVar[str] = "while-condition"
    type: Literal["while-condition"]
    condition: str = Field(min_length=1)
    on_true: Identifier

    def branches(self) -> list[tuple[str, str]]:
        return [("on_true", self.on_true)]


class SwitchConditionStep(StepBase):
    TYPE: ClassVar[str] = "switch-condition"
    type: Literal["switch-condition"]
    switch: str = Field(min_length=1)
    cases: dict[str, Identifier] = Field(min_length=1)

    def branches(self) -> list[tuple[str, str]]:
        return [(f"cases.{key}", target) for key, target in self.cases.items()]


def _step_type(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in STEP_TYPES else None


WorkflowStep = Annotated[
    Annotated[StartStep, Tag("start")]
    | Annotated[EndStep, Tag("end")]
    | Annotated[ActionStep, Tag("action")]
    | Annotated[PlaybookActionStep, Tag("playbook-action")]
    | Annotated[ParallelStep, Tag("parallel")]
    | Annotated[IfConditionStep, Tag("if-condition")]
    | Annotated[WhileConditionStep, Tag("while-condition")]
    | Annotated[SwitchConditionStep, Tag("switch-condition")],
    Discriminator(_step_type, custom_error_type="cacao_step_type", custom_error_message="unknown step type"),
]


# --- agents, targets and the playbook ------------------------------------------------------------------------


class AgentTarget(Open):
    """An agent or target definition. Only `http-api` ones are executed; the rest is kept as given."""

    type: str
    name: str = ""
    address: dict[str, list[Any]] = Field(default_factory=dict)
    port: str | None = None


class CacaoPlaybook(Strict):
    """A CACAO 2.0 playbook (section 3 of the specification)."""

    type: Literal["playbook"]
    spec_version: Literal["cacao-2.0"]
    id: Identifier
    name: str = Field(min_length=1)
    description: str = ""
    playbook_types: list[str] = Field(default_factory=list)
    playbook_activities: list[str] = Field(default_factory=list)
    playbook_processing_summary: dict[str, Any] | None = None
    created_by: Identifier
    created: Timestamp
    modified: Timestamp
    revoked: bool = False
    valid_from: Timestamp | None = None
    valid_until: Timestamp | None = None
    derived_from: list[Identifier] | None = None
    related_to: list[Identifier] | None = None
    priority: Score | None = None
    severity: Score | None = None
    impact: Score | None = None
    industry_sectors: list[str] | None = None
    labels: list[str] | None = None
    external_references: list[Any] | None = None
    markings: list[Identifier] | None = None
    playbook_variables: dict[VariableName, Variable] = Field(default_factory=dict)
    workflow_start: Identifier
    workflow_exception: Identifier | None = None
    workflow: dict[str, WorkflowStep] = Field(min_length=1)
    playbook_extensions: dict[str, Any] | None = None
    authentication_info_definitions: dict[str, Any] | None = None
    agent_definitions: dict[str, AgentTarget] = Field(default_factory=dict)
    target_definitions: dict[str, AgentTarget] = Field(default_factory=dict)
    extension_definitions: dict[str, Any] | None = None
    data_marking_definitions: dict[str, Any] | None = None
    signatures: list[Any] | None = None


AnyStep = (
    StartStep
    | EndStep
    | ActionStep
    | PlaybookActionStep
    | ParallelStep
    | IfConditionStep
    | WhileConditionStep
    | SwitchConditionStep
)
