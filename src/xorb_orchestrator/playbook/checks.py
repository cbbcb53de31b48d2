"""Checks of single parts of a playbook, each returning (field, message) pairs for the validator."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from xorb_orchestrator.playbook.approval import MAX_ESCALATIONS, Approval, OnTimeout
from xorb_orchestrator.playbook.errors import suggestion
from xorb_orchestrator.playbook.metadata import type_name
from xorb_orchestrator.playbook.playbook import Playbook
from xorb_orchestrator.playbook.steps import PlaybookStep
from xorb_orchestrator.playbook.templates import is_template

Problems = list[tuple[str, str]]


def approval_problems(approval: Approval) -> Problems:
    """Approvers named, N of M possible, escalation given exactly when on_timeout says escalate."""
    problems: Problems = []
    rounds = approval.rounds()
    for depth, group in enumerate(rounds):
        prefix = "approval" + ".escalate" * depth
        people, roles = group.approvers.people, group.approvers.roles
        if not people and not roles:
            problems.append((f"{prefix}.approvers", "name at least one role or person"))
        for person in sorted({p for p in people if people.count(p) > 1}):
            problems.append((f"{prefix}.approvers.people", f"'{person}' is listed twice"))
        if people and not roles and group.required > len(set(people)):
            problems.append(
                (
                    f"{prefix}.required",
                    f"{group.required} approvals required but only {len(set(people))} people named (and no roles)",
                )
            )
        if group.on_timeout is OnTimeout.ESCALATE and group.escalate is None:
            problems.append((f"{prefix}.escalate", "on_timeout is escalate: say who to escalate to"))
        if group.on_timeout is not OnTimeout.ESCALATE and group.escalate is not None:
            message = f"only allowed when on_timeout is escalate (it is {group.on_timeout.value})"
            problems.append((f"{prefix}.escalate", message))
    if len(rounds) - 1 > MAX_ESCALATIONS:
        problems.append(("approval" + ".escalate" * (MAX_ESCALATIONS + 1), f"at most {MAX_ESCALATIONS} escalations"))
    return problems + _output_problems(approval)


def _output_problems(approval: Approval) -> Problems:
    """Outputs are given by the one person who approves: never by N of M people, never by a timeout."""
    if not approval.outputs:
        return []
    problems: Problems = []
    for depth, group in enumerate(approval.rounds()):
        prefix = "approval" + ".escalate" * depth
        if group.required != 1:
            problems.append((f"{prefix}.required", "an approval with outputs needs required: 1 (whose values?)"))
        if group.on_timeout is OnTimeout.APPROVE:
            message = "an approval with outputs cannot approve on timeout: nobody would give the values"
            problems.append((f"{prefix}.on_timeout", message))
    return problems


def child_playbook_problems(parent: str, step: PlaybookStep, catalog: Mapping[str, Playbook]) -> Problems:
    """The playbook run exists, does not lead back to `parent`, and gets the inputs it declares."""
    child = catalog.get(step.playbook)
    if child is None:
        others = sorted(name for name in catalog if name != parent)
        shown = ", ".join(others[:8]) + (f" and {len(others) - 8} more" if len(others) > 8 else "")
        known = suggestion(step.playbook, others) or f" (known: {shown or 'none'})"
        return [("playbook", f"unknown playbook '{step.playbook}'{known}")]
    problems: Problems = []
    cycle = _cycle(parent, child, catalog, [parent, child.id])
    if cycle:
        problems.append(("playbook", f"playbooks run each other in a loop: {' -> '.join(cycle)}"))
    for name, value in step.inputs.items():
        spec = child.inputs.get(name)
        if spec is None:
            declared = ", ".join(child.inputs) or "none"
            problems.append((f"inputs.{name}", f"playbook '{child.id}' has no input '{name}' (declared: {declared})"))
        elif not (isinstance(value, str) and is_template(value)) and not spec.type.accepts(value):
            problems.append((f"inputs.{name}", f"expected {spec.type.value}, got {type_name(value)}"))
    for name, spec in child.inputs.items():
        if spec.required and name not in step.inputs:
            problems.append(("inputs", f"missing required input '{name}' of playbook '{child.id}'"))
    return problems


def _cycle(origin: str, playbook: Playbook, catalog: Mapping[str, Playbook], chain: list[str]) -> list[str] | None:
    for placement in playbook.walk():
        step = placement.step
        if not isinstance(step, PlaybookStep) or step.playbook in chain[1:]:
            continue
        if step.playbook == origin:
            return [*chain, origin]
        child = catalog.get(step.playbook)
        found = _cycle(origin, child, catalog, [*chain, child.id]) if child else None
        if found:
            return found
    return None


def is_rfc3339(text: str) -> bool:
    """An RFC 3339 date-time with its offset, e.g. 2030-01-01T08:00:00Z."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return False
    return "T" in text.upper() and moment.tzinfo is not None
