"""Every `workflow.patched` id in use, with when it came and when it may go.

A change to workflow logic that would make a running execution replay differently goes behind
`workflow.patched(patches.X.id)`: new executions take the new path, replaying ones the old. Its life:

1. `patched`: list it here (id, date added, why), branch on `workflow.patched(X.id)`, record a golden history
   of the new path beside the old one.
2. `deprecate_patch`: once no execution that started before the patch can still be running (the longest a
   workflow of that kind lives, continue-as-new included), drop the old branch and call
   `workflow.deprecate_patch(X.id)`; executions started with the marker still replay.
3. removed: once none started before step 2 is running, delete the call and this entry; re-record the goldens.

tests/workflows/test_patches.py fails when workflow code uses an id that is not listed here, or a listed one is
used nowhere.
Nothing has been released yet, so the list starts empty (the four patches of the first iterations were reset).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Patch:
    """One patch id: `retire_after` is the date after which step 2 of its life may start."""

    id: str
    added: date
    retire_after: date
    why: str


PATCHES: tuple[Patch, ...] = ()
