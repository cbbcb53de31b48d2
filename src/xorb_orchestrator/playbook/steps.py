"""Steps: one model per kind, told apart by which kind key the step has (`action`, `if`, `parallel` ...)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Discriminator, Field, Tag, field_validator

from xorb_orchestrator.playbook.approval import Approval
from xorb_orchestrator.playbook.durations import Duration
from xorb_orchestrator.playbook.metadata import PlaybookId, StepId, Strict
from xorb_orchestrator.playbook.policies import ActionName, Compensation, OnFailure, RetryPolicy

DEFAULT_STEP_TIMEOUT = timedelta(minutes=5)
DEFAULT_MAX_ITEMS = 100
MAX_ITEMS_CAP = 1000
MAX_CONCURRENCY = 50

Condition = Annotated[str, Field(min_length=1, max_length=4096)]


class StepBase(Strict):
    """Fields every step may have."""

    KIND: ClassVar[str] = ""

    id: StepId
    description: str = Field("", description="What the step is for, for people.")
    when: Condition | None = Field(None, description="CEL condition; the step is skipped when it is false.")
    retry: RetryPolicy | None = Field(None, description="Retry policy (action and playbook steps only).")
    timeout: Duration | None = Field(
        None,
        description="Time limit: of one attempt (actions, default 5m) or of "
        "the whole block. Approvals use approval.timeout instead.",
    )
    on_failure: OnFailure = "abort"
    compensate: Compensation | None = Field(None, description="The action that undoes this step once completed.")

    @property
    def kind(self) -> str:
        return self.KIND

    def blocks(self) -> list[Block]:
        """The nested step lists of this step, in order (none for leaf steps)."""
        return []


@dataclass(frozen=True)
class Block:
    """A nested list of steps and where it sits in its step (`then`, `parallel[1]`, `cases.high` ...)."""

    field: str
    steps: list[Step]


class ActionStep(StepBase):
    """Run a registered action with arguments."""

    KIND: ClassVar[str] = "action"
    action: ActionName
    args: dict[str, Any] = Field(
        default_factory=dict, description="Arguments; any string may contain ${{ <CEL> }} templates."
    )
    dry_run: Literal["simulate", "call"] = Field(
        "simulate",
        description="In a dry run: `simulate` (default) records the call without making it; `call` makes it when "
        "it changes nothing (a lookup the author vouches is safe to run), at most 5 per dry run.",
    )


class Join(StrEnum):
    ALL = "all"
    ANY = "any"


class ParallelStep(StepBase):
    """Run branches at the same time."""

    KIND: ClassVar[str] = "parallel"
    parallel: list[Annotated[list[Step], Field(min_length=1)]] = Field(
        min_length=1, description="The branches: each a list of steps run in order."
    )
    join: Join = Field(
        Join.ALL, description="all: wait for every branch; any: the first to finish wins, the others are cancelled."
    )

    def blocks(self) -> list[Block]:
        return [Block(f"parallel[{index}]", branch) for index, branch in enumerate(self.parallel)]


class IfStep(StepBase):
    """Run `then` when the condition holds, else `else`."""

    KIND: ClassVar[str] = "if"
    if_: Condition = Field(alias="if", description="CEL condition (a boolean).")
    then: list[Step] = Field(min_length=1, description="Steps run when the condition is true.")
    else_: list[Step] = Field(default_factory=list, alias="else", description="Steps run when it is false.")

    def blocks(self) -> list[Block]:
        return [Block("then", self.then), Block("else", self.else_)]


class SwitchStep(StepBase):
    """Run the steps of the case equal to the expression's value, else `default`."""

    KIND: ClassVar[str] = "switch"
    switch: Condition = Field(description="CEL expression; its value picks the case.")
    cases: dict[str, list[Step]] = Field(
        min_length=1,
        description="Case value -> steps. A string value matches as is; numbers and booleans match their "
        "JSON text (4 matches '4', true matches 'true').",
    )
    default: list[Step] = Field(default_factory=list, description="Steps run when no case matches.")

    @field_validator("cases", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        # YAML turns `4:` and `true:` keys into numbers and booleans; cases are matched on text.
        if isinstance(value, dict):
            return {(str(k).lower() if isinstance(k, bool) else str(k)): v for k, v in value.items()}
        return value

    def blocks(self) -> list[Block]:
        return [*(Block(f"cases.{key}", steps) for key, steps in self.cases.items()), Block("default", self.default)]

    def select(self, value: Any) -> tuple[str, list[Step]]:
        """The case for the switch expression's value: (its key, its steps), or ("default", default steps)."""
        key = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if key in self.cases:
            return key, self.cases[key]
        return "default", self.default


class ForEachStep(StepBase):
    """Run `steps` once per item of a list, `item` bound to the item."""

    KIND: ClassVar[str] = "for_each"
    for_each: Condition = Field(description="CEL expression giving a list.")
    max_items: int = Field(
        DEFAULT_MAX_ITEMS,
        ge=1,
        le=MAX_ITEMS_CAP,
        description="The step fails (nothing runs) when the list is longer than this (at most 1000).",
    )
    concurrency: int = Field(1, ge=1, le=MAX_CONCURRENCY, description="How many items run at the same time.")
    steps: list[Step] = Field(min_length=1, description="Steps run for each item; `item` is the current item.")

    def blocks(self) -> list[Block]:
        return [Block("steps", self.steps)]


class ApprovalStep(StepBase):
    """Wait for people to approve."""

    KIND: ClassVar[str] = "approval"
    approval: Approval


class Wait(Strict):
    """Exactly one of `delay` and `until`."""

    delay: Duration | None = Field(None, description="How long to wait.")
    until: str | None = Field(
        None,
        description="Wait until this RFC 3339 time (e.g. 2030-01-01T08:00:00Z), or a ${{ }} expression giving one.",
    )


class WaitStep(StepBase):
    """Wait for a while, or until a time."""

    KIND: ClassVar[str] = "wait"
    wait: Wait


class PlaybookStep(StepBase):
    """Run another playbook (by id) and wait for it."""

    KIND: ClassVar[str] = "playbook"
    playbook: PlaybookId = Field(description="Id of the playbook to run.")
    inputs: dict[str, Any] = Field(
        default_factory=dict, description="Its inputs; any string may contain ${{ <CEL> }} templates."
    )


STEP_KINDS: dict[str, type[StepBase]] = {
    cls.KIND: cls
    for cls in (ActionStep, ParallelStep, IfStep, SwitchStep, ForEachStep, ApprovalStep, WaitStep, PlaybookStep)
}


def step_kind(value: Any) -> str | None:
    """The kind of a raw step (the one kind key it has), or None when it has none or several."""
    if isinstance(value, StepBase):
        return value.kind
    if isinstance(value, dict):
        kinds = [key for key in STEP_KINDS if key in value]
        return kinds[0] if len(kinds) == 1 else None
    return None


Step = Annotated[
    Annotated[ActionStep, Tag("action")]
    | Annotated[ParallelStep, Tag("parallel")]
    | Annotated[IfStep, Tag("if")]
    | Annotated[SwitchStep, Tag("switch")]
    | Annotated[ForEachStep, Tag("for_each")]
    | Annotated[ApprovalStep, Tag("approval")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[PlaybookStep, Tag("playbook")],
    Discriminator(
        step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step has exactly one of: " + ", ".join(STEP_KINDS),
    ),
]

for _cls in STEP_KINDS.values():
    _cls.model_rebuild()
