"""Approvals that gate action steps: which step each approval decides, and whether a step may run as rendered.

An approval's `gates` names later action steps. When the approval is asked, their requests are rendered and
shown; when a gated step runs, it runs only if that approval approved, and only with exactly the request shown.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from xorb_orchestrator.playbook.playbook import Playbook
from xorb_orchestrator.playbook.steps import ApprovalStep


def gated_steps(playbook: Playbook) -> dict[str, str]:
    """Gated action step id -> the id of the approval that gates it (the validator allows one per step)."""
    gates: dict[str, str] = {}
    for placement in playbook.walk():
        if isinstance(placement.step, ApprovalStep):
            for gated in placement.step.approval.gates:
                gates.setdefault(gated, placement.step.id)
    return gates


def gate_key(step_id: str, iterations: Iterable[int]) -> str:
    """One gated step instance: its id and the for_each items it runs in (an approval in a loop gates its item)."""
    return "/".join([step_id, *(str(index) for index in iterations)])


def gate_refusal(
    step_id: str, approval_id: str, decided: tuple[bool, dict[str, Any]] | None, args: dict[str, Any]
) -> str | None:
    """Why the gated step `step_id` may not run with `args`, or None when it may.

    `decided` is how its approval ended (approved?, the args it showed), None when the approval has not run.
    """
    if decided is None:
        return f"it runs only after approval '{approval_id}' approved it, and that approval has not run"
    approved, shown = decided
    if not approved:
        return f"approval '{approval_id}' did not approve it"
    if _canonical(shown) != _canonical(args):
        changed = sorted(
            key for key in shown.keys() | args.keys() if _canonical(shown.get(key)) != _canonical(args.get(key))
        )
        return (
            f"its request differs from the one approval '{approval_id}' showed (changed: {', '.join(changed)}); "
            "nothing was sent"
        )
    return None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
