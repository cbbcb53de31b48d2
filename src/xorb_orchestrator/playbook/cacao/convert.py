"""A validated CACAO workflow graph converted to the native step tree.

The walk (walk.py) starts at `workflow_start` and follows each step's continuation until an `end` step. Branching
steps become native blocks (blocks.py) whose branches are converted the same way (up to their `end` step, or up to
where they join the branching step's continuation); `end` steps disappear (a branch or the playbook simply ends
there). A step reached along two paths that do not join is converted once per path (its copies get `-2`, `-3` ...
suffixes). Action steps are converted in actions.py, while loops unrolled in loops.py, and failures routed to
`on_failure` or `workflow_exception` in failures.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xorb_orchestrator.playbook.cacao.failures import HANDLER_ID, exception_branch
from xorb_orchestrator.playbook.cacao.metadata import (
    native_description,
    native_inputs,
    native_tags,
    native_version,
)
from xorb_orchestrator.playbook.cacao.models import CacaoPlaybook
from xorb_orchestrator.playbook.cacao.variables import Scope
from xorb_orchestrator.playbook.cacao.walk import Walk
from xorb_orchestrator.playbook.errors import PlaybookError

__all__ = ["DEFAULT_WHILE_MAX_ITERATIONS", "HANDLER_ID", "Conversion", "convert_workflow"]

DEFAULT_WHILE_MAX_ITERATIONS = 100


@dataclass
class Conversion:
    """The native playbook as plain data (parse it with `parse_playbook`), and every problem found."""

    native: dict[str, Any]
    errors: list[PlaybookError]


def convert_workflow(playbook: CacaoPlaybook, max_iterations: int = DEFAULT_WHILE_MAX_ITERATIONS) -> Conversion:
    """Convert a playbook whose graph is valid (see `graph_problems`) to native playbook data."""
    walk = Walk(playbook, max_iterations)
    scope = Scope(to_handler=walk.handler)
    steps = walk.chain(playbook.workflow_start, frozenset(), scope, "")
    if not steps and not walk.errors:
        walk.error("the workflow runs no step: a playbook needs at least one action", field="workflow")
    if walk.handler_sources and playbook.workflow_exception is not None:
        steps.extend(exception_branch(walk, playbook.workflow_exception, scope))
    inputs, problems = native_inputs(playbook)
    for problem in problems:
        walk.error(problem.message, problem.step, problem.field)
    native = {
        "id": playbook.id.lower(),
        "name": playbook.name[:200],
        "version": native_version(playbook.modified),
        "description": native_description(playbook),
        "tags": native_tags(playbook),
        "inputs": inputs,
        "steps": steps,
    }
    return Conversion(native, walk.errors)
