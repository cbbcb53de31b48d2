"""Approval steps: who may approve, how many must, and what happens when nobody answers in time."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from xorb_orchestrator.playbook.durations import Duration
from xorb_orchestrator.playbook.metadata import IDENTIFIER_PATTERN, StepId, Strict

MAX_APPROVERS_REQUIRED = 20
MAX_ESCALATIONS = 3
MAX_OUTPUTS = 20
MAX_GATES = 10

OutputName = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]


class OnTimeout(StrEnum):
    DENY = "deny"
    APPROVE = "approve"
    ESCALATE = "escalate"


class Approvers(Strict):
    """Who may approve: anyone holding one of the roles, and/or the people named."""

    roles: list[str] = Field(default_factory=list, description="Roles whose holders may approve.")
    people: list[str] = Field(default_factory=list, description="People (user names) who may approve.")


class ApprovalGroup(Strict):
    """One round of asking: a group of approvers, how many of them must approve, and a deadline."""

    approvers: Approvers
    required: int = Field(
        1, ge=1, le=MAX_APPROVERS_REQUIRED, description="How many different approvers must approve (N of M)."
    )
    timeout: Duration = Field(description="How long to wait for the decision.")
    on_timeout: OnTimeout = Field(
        OnTimeout.DENY,
        description="When the timeout passes: deny, approve, or escalate (ask the `escalate` group).",
    )
    escalate: ApprovalGroup | None = Field(
        None, description="The group asked next when on_timeout is escalate (required then, refused otherwise)."
    )

    def rounds(self) -> list[ApprovalGroup]:
        """This group followed by its escalations, in the order they are asked."""
        chain: list[ApprovalGroup] = [self]
        while chain[-1].escalate is not None:
            chain.append(chain[-1].escalate)
        return chain


class Approval(ApprovalGroup):
    """A human decision. Denied (or timed out with deny): the step fails, and its on_failure decides what follows."""

    message: str = Field("", description="What the approvers are asked; a template (${{ ... }} pieces are filled in).")
    outputs: list[OutputName] = Field(
        default_factory=list,
        max_length=MAX_OUTPUTS,
        description="Values the person who approves gives with the approval (names: letters, digits and '_'); "
        "they become steps.<id>.result.<name>. Needs required: 1 and no on_timeout: approve in any round, so "
        "that exactly one person gives them.",
    )

    gates: list[StepId] = Field(
        default_factory=list,
        max_length=MAX_GATES,
        description="Ids of later action steps this approval decides: their requests, rendered when the approval "
        "is asked, are shown to the approvers; each runs only after this approval approved, and only with exactly "
        "the request shown (otherwise it fails).",
    )

    always_ask: bool = Field(
        False,
        description="A person decides even when the response policy runs the playbook with autonomy auto (which "
        "otherwise grants the approval). For one-way actions: revoking sessions, deleting, killing.",
    )

    @field_validator("outputs", "gates")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise ValueError(f"'{twice[0]}' is listed twice")
        return value
