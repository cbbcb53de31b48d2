"""Approval steps: who may approve, how many must, and what happens when nobody answers in time."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from xorb_orchestrator.playbook.durations import Duration
from xorb_orchestrator.playbook.metadata import Strict

MAX_APPROVERS_REQUIRED = 20
MAX_ESCALATIONS = 3


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
