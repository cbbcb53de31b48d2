"""A playbook run as data: what starts one and what it reports.

Pure models (no I/O): the PlaybookWorkflow's input and result. Its step records and query state are in
run_records, the approvals people send it in approvals (both re-exported here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field

from xorb_orchestrator.models.approvals import (
    ApprovalDecision,
    ApprovalReceipt,
    ApprovalRequest,
    ApprovalVote,
    Gate,
    GatedRequest,
)
from xorb_orchestrator.models.incident import IncidentView
from xorb_orchestrator.models.plan import PinnedPlaybook
from xorb_orchestrator.models.response_plan import Autonomy
from xorb_orchestrator.models.run_records import PlaybookRunState, RunStatus, StepRecord, UndoRecord
from xorb_orchestrator.playbook import Playbook, StepState

__all__ = [
    "DEFAULT_HISTORY_LIMIT",
    "MAX_DRY_RUN_LOOKUPS",
    "ApprovalDecision",
    "ApprovalReceipt",
    "ApprovalRequest",
    "ApprovalVote",
    "Gate",
    "GatedRequest",
    "PlaybookRunInput",
    "PlaybookRunResult",
    "PlaybookRunState",
    "RunCarry",
    "RunStatus",
    "StepRecord",
    "UndoRecord",
]

# Events in one run's history before it continues as new (at a boundary between top-level steps).
DEFAULT_HISTORY_LIMIT = 10_000
# Real lookups one dry run may make (steps marked `dry_run: call`, in the top playbook only); beyond, simulated.
MAX_DRY_RUN_LOOKUPS = 5


class RunCarry(BaseModel):
    """What a run carries into its continue-as-new successor (taken between two top-level steps)."""

    next_index: int
    states: dict[str, StepState]
    records: list[StepRecord]
    undo: list[UndoRecord]
    gates: dict[str, Gate] = Field(default_factory=dict, description="Decided gates by gated step instance.")


class PlaybookRunInput(BaseModel):
    """Start a PlaybookWorkflow (id `playbook-<incident id>-<n>`) with this. Build it with `pin(...)`."""

    playbook: Playbook
    playbook_sha256: str = Field(description="Playbook.content_sha256(), computed when the run was pinned.")
    library: dict[str, Playbook] = Field(
        default_factory=dict, description="The playbooks its `playbook` steps run (transitively), pinned with it."
    )
    library_sha256: dict[str, str] = Field(
        default_factory=dict, description="Playbook id -> content hash of each playbook in `library`."
    )
    inputs: dict[str, Any] = Field(default_factory=dict, description="Resolved inputs (resolve_inputs).")
    incident: IncidentView
    dry_run: bool = False
    dry_run_lookups: int = Field(
        0,
        ge=0,
        le=MAX_DRY_RUN_LOOKUPS,
        description="Real calls this dry run may make, to steps marked `dry_run: call` (0: every call simulated).",
    )
    mutating_actions: list[str] = Field(
        default_factory=list, description="Actions a dry run simulates instead of calling (the registry's flags)."
    )
    history_limit: int = Field(DEFAULT_HISTORY_LIMIT, ge=50)
    carried: RunCarry | None = None
    measure_first_action: bool = Field(
        False, description="The incident's own run: its first action is timed from the incident's first alert."
    )
    autonomy: Autonomy | None = Field(
        None,
        description="The response policy's autonomy (auto: approvals are granted by the policy unless they "
        "always_ask); None: a run someone started, whose approvals ask people.",
    )

    @classmethod
    def pin(
        cls,
        playbook: Playbook,
        *,
        incident: IncidentView,
        inputs: Mapping[str, Any] | None = None,
        catalog: Mapping[str, Playbook] | None = None,
        dry_run: bool = False,
        mutating_actions: Iterable[str] = (),
    ) -> PlaybookRunInput:
        """The input of a run of a validated playbook (see PinnedPlaybook.pin; InputError when inputs do not fit)."""
        pinned = PinnedPlaybook.pin(playbook, inputs=inputs, catalog=catalog, mutating_actions=mutating_actions)
        return cls.from_pinned(pinned, incident=incident, dry_run=dry_run)

    @classmethod
    def from_pinned(
        cls,
        pinned: PinnedPlaybook,
        *,
        incident: IncidentView,
        dry_run: bool = False,
        measure_first_action: bool = False,
    ) -> PlaybookRunInput:
        """The run of a playbook pinned earlier (by the incident's plan) for this incident."""
        return cls(
            measure_first_action=measure_first_action,
            playbook=pinned.playbook,
            playbook_sha256=pinned.playbook_sha256,
            library=pinned.library,
            library_sha256=pinned.library_sha256,
            inputs=pinned.inputs,
            incident=incident,
            dry_run=dry_run,
            mutating_actions=pinned.mutating_actions,
            autonomy=pinned.autonomy,
        )


class PlaybookRunResult(BaseModel):
    """How a run ended: its steps in the order they started, and the compensations run (newest first)."""

    playbook_id: str
    playbook_sha256: str
    status: RunStatus
    dry_run: bool = False
    error: str | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    compensations: list[UndoRecord] = Field(default_factory=list)
    pending_undo: list[UndoRecord] = Field(
        default_factory=list, description="Compensations not run (the run succeeded); a parent run adopts them."
    )
    states: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Top-level step states ({status, result, error}): a playbook step's result."
    )

    def as_state(self, workflow_id: str | None) -> PlaybookRunState:
        """The ended run as its `state` query would show it (nothing pending any more)."""
        return PlaybookRunState(
            playbook_id=self.playbook_id,
            workflow_id=workflow_id,
            playbook_sha256=self.playbook_sha256,
            status=self.status,
            dry_run=self.dry_run,
            steps=self.steps,
            pending_approvals=[],
            compensations=self.compensations,
            error=self.error,
        )

    def decisions(self) -> list[tuple[str, str]]:
        """(step id, decision) of every branch taken, in order."""
        return [(record.id, record.decision) for record in self.steps if record.decision is not None]
