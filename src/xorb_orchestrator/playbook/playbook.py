"""The playbook: metadata, declared inputs and steps; walking the step tree."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from xorb_orchestrator.playbook.context import StepState, expression_context
from xorb_orchestrator.playbook.metadata import PlaybookMetadata
from xorb_orchestrator.playbook.steps import ApprovalStep, ForEachStep, Step, StepBase

if TYPE_CHECKING:
    from xorb_orchestrator.models.incident import IncidentView


@dataclass(frozen=True)
class Placement:
    """Where a step sits: its path (`steps[2].then[0]`), its enclosing steps (outermost first) and its rank
    in document order."""

    step: StepBase
    path: str
    ancestors: tuple[StepBase, ...]
    order: int
    # The block (`then`, `parallel[1]`, `cases.high` ...) of each ancestor that this step is in.
    blocks: tuple[str, ...] = ()

    @property
    def parent(self) -> StepBase | None:
        return self.ancestors[-1] if self.ancestors else None

    @property
    def loops(self) -> tuple[ForEachStep, ...]:
        """The for_each steps this step runs inside (once per item)."""
        return tuple(step for step in self.ancestors if isinstance(step, ForEachStep))


class Playbook(PlaybookMetadata):
    """A response playbook: who it is, what it takes, and the steps it runs."""

    steps: list[Step] = Field(min_length=1, description="The steps, run in order.")

    def walk(self) -> Iterator[Placement]:
        """Every step, nested ones included, in document order (a step before its children)."""
        counter = iter(range(1_000_000))

        def visit(
            steps: list[Step], prefix: str, ancestors: tuple[StepBase, ...], blocks: tuple[str, ...]
        ) -> Iterator[Placement]:
            for index, step in enumerate(steps):
                path = f"{prefix}[{index}]"
                yield Placement(step, path, ancestors, next(counter), blocks)
                for block in step.blocks():
                    yield from visit(block.steps, f"{path}.{block.field}", (*ancestors, step), (*blocks, block.field))

        return visit(self.steps, "steps", (), ())

    def placements(self) -> dict[str, Placement]:
        """Step id -> placement (the first one, should ids repeat in an unvalidated playbook)."""
        found: dict[str, Placement] = {}
        for placement in self.walk():
            found.setdefault(placement.step.id, placement)
        return found

    def step(self, step_id: str) -> StepBase:
        """The step with this id; KeyError when there is none."""
        return self.placements()[step_id].step

    def step_ids(self) -> list[str]:
        return [placement.step.id for placement in self.walk()]

    def count_steps(self) -> int:
        return sum(1 for _ in self.walk())

    def content_sha256(self) -> str:
        """SHA-256 of the canonical JSON form: the same for the same playbook whatever its file's layout,
        comments or format (YAML or JSON). A run pins it.

        Fields left at their default are left out, so adding a field with a default to the model (a
        backwards-compatible change) leaves every hash as it was. Computed where a run's input is built, never
        inside a workflow: a workflow that recomputed it would see a different model on replay."""
        content = self.model_dump(mode="json", exclude_defaults=True)
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def expression_context(
        self,
        *,
        inputs: Mapping[str, Any],
        incident: IncidentView | Mapping[str, Any],
        steps: Mapping[str, StepState],
        item: Any = None,
        in_loop: bool = False,
    ) -> dict[str, Any]:
        """The context for expressions at some point of a run (see `context.expression_context`)."""
        placements = list(self.walk())
        return expression_context(
            inputs=inputs,
            incident=incident,
            steps=steps,
            step_ids=[p.step.id for p in placements],
            approval_ids=[p.step.id for p in placements if isinstance(p.step, ApprovalStep)],
            item=item,
            in_loop=in_loop,
        )
