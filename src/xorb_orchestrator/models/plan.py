"""The response plan: what to do about an incident, and why.

Either built-in steps (notify the SOC), or a playbook from the catalog pinned for this incident: its content,
content hash and resolved inputs are recorded in history with the plan, so editing the file never changes a
response already under way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from xorb_orchestrator.models.response_plan import Autonomy, PolicyDecision
from xorb_orchestrator.playbook import Playbook, PlaybookStep, resolve_inputs


class PlannedStep(BaseModel):
    """One action of the plan. `id` is stable within the incident and keys the action's idempotency."""

    id: str
    action: str
    args: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""


class PinnedPlaybook(BaseModel):
    """A validated playbook chosen for a run: its content, that content's hash, the playbooks it runs, and
    its resolved inputs. Build it with `pin(...)`."""

    playbook: Playbook
    playbook_sha256: str = Field(description="Playbook.content_sha256(), computed when the run was pinned.")
    library: dict[str, Playbook] = Field(
        default_factory=dict, description="The playbooks its `playbook` steps run (transitively), pinned with it."
    )
    library_sha256: dict[str, str] = Field(
        default_factory=dict, description="Playbook id -> content hash of each playbook in `library`."
    )
    inputs: dict[str, Any] = Field(default_factory=dict, description="Resolved inputs (resolve_inputs).")
    mutating_actions: list[str] = Field(
        default_factory=list, description="Actions a dry run simulates instead of calling (the registry's flags)."
    )
    autonomy: Autonomy | None = Field(
        None, description="The response policy's autonomy for this run (auto: its approvals are granted by policy)."
    )

    @classmethod
    def pin(
        cls,
        playbook: Playbook,
        *,
        inputs: Mapping[str, Any] | None = None,
        catalog: Mapping[str, Playbook] | None = None,
        mutating_actions: Iterable[str] = (),
    ) -> PinnedPlaybook:
        """Resolve the inputs (InputError when they do not fit), pin the content hash, and carry along every
        playbook it runs (from `catalog`)."""
        catalog = catalog or {}
        library: dict[str, Playbook] = {}
        pending = [playbook]
        while pending:
            for placement in pending.pop().walk():
                step = placement.step
                if isinstance(step, PlaybookStep) and step.playbook not in library and step.playbook in catalog:
                    library[step.playbook] = catalog[step.playbook]
                    pending.append(catalog[step.playbook])
        return cls(
            playbook=playbook,
            playbook_sha256=playbook.content_sha256(),
            library=library,
            library_sha256={playbook_id: child.content_sha256() for playbook_id, child in library.items()},
            inputs=resolve_inputs(playbook.inputs, dict(inputs or {})),
            mutating_actions=sorted(set(mutating_actions)),
        )


class Plan(BaseModel):
    playbook: str = Field(description="The playbook's id (`notify-soc`: the built-in steps below).")
    rationale: str
    steps: list[PlannedStep] = Field(default_factory=list, description="Built-in steps (when no playbook runs).")
    playbook_sha256: str | None = Field(None, description="The pinned playbook's content hash, when one runs.")
    inputs: dict[str, Any] = Field(default_factory=dict, description="The pinned playbook's resolved inputs.")
    considered: list[str] = Field(
        default_factory=list, description="Playbooks that matched but were not chosen, and why (one line each)."
    )
    run: PinnedPlaybook | None = Field(
        None, description="The pinned playbook: kept in history, always null in the incident view."
    )
    decision: PolicyDecision | None = Field(
        None, description="The response policy's decision and its explanation (rule, targets, evidence, passed over)."
    )
