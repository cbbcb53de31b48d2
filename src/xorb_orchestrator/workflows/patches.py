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
The four patches of the first, unreleased iterations were reset; the list starts again from there.
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


REDELIVERY_MEMORY = Patch(
    id="redelivery-memory",
    added=date(2026, 12, 6),
    # Incidents live a correlation window (minutes to hours) plus their response; a month is ample.
    retire_after=date(2027, 1, 6),
    why="a new incident asks earlier ones of its key about its first alerts, and leaves its fingerprints in a memo",
)

APPROVAL_OUTCOME_STATUS = Patch(
    id="approval-outcome-status",
    added=date(2026, 12, 6),
    # Playbook runs wait for approvals at most their rounds' timeouts (hours to days); a month is ample.
    retire_after=date(2027, 1, 6),
    why="an approval step that was not approved reads `denied` or `timed_out` instead of `failed`",
)

REUSED_EVENT_IDS = Patch(
    id="reused-event-ids",
    added=date(2026, 12, 6),
    # Incidents live a correlation window (minutes to hours) plus their response; a month is ample.
    retire_after=date(2027, 1, 7),
    why="an alert that reuses an event id seen with other content is counted in `reused_id_count`",
)

SEVERITY_ATTRIBUTE_RISES = Patch(
    id="severity-attribute-rises",
    added=date(2026, 12, 6),
    retire_after=date(2027, 1, 7),
    why="the XorbSeverity search attribute follows the incident's severity when a later alert raises it",
)

FAILED_UNDO_NOTICE = Patch(
    id="failed-undo-notice",
    added=date(2026, 12, 6),
    # Containments last the policy's duration (a day by default, at most the indicators' validity, extended by
    # hand at most 30 days at a time): retire after two months.
    retire_after=date(2027, 2, 6),
    why="a containment whose undo failed ends `failed_undo` and tells the SOC channel (notify.webhook); every "
    "containment's end is counted (containment.ended)",
)

APPROVAL_NOTICES = Patch(
    id="approval-notices",
    added=date(2026, 12, 6),
    # Playbook runs wait for approvals at most their rounds' timeouts (hours to days); a month is ample.
    retire_after=date(2027, 1, 7),
    why="every approval and guardrail hold is announced to the SOC channel (notify.approval), and so is its end",
)

ENRICH_AND_PLAN = Patch(
    id="enrich-and-plan",
    added=date(2026, 12, 7),
    # Incidents live a correlation window (minutes to hours) plus their response; a month is ample.
    retire_after=date(2027, 1, 7),
    why="an incident is enriched and planned by one activity (incident.assess) instead of two in a row",
)

SLOT_CLAIM = Patch(
    id="slot-claim",
    added=date(2026, 12, 7),
    # Incidents live a correlation window (minutes to hours) plus their response; a month is ample.
    retire_after=date(2027, 1, 7),
    why="an incident claims its response slot by Update (slots.claim) and starts at once when one is free, "
    "instead of always waiting for the coordinator's grant signal",
)

FEWER_CACHE_WRITES = Patch(
    id="fewer-cache-writes",
    added=date(2026, 12, 7),
    # Incidents live a correlation window (minutes to hours) plus their response; a month is ample.
    retire_after=date(2027, 1, 7),
    why="an incident is `waiting` (cache and search attribute) only when it waits for a slot, and a built-in "
    "plan's `running` is cached with its first step: three cache writes before the first action instead of five",
)

CLAIM_WHILE_ASSESSING = Patch(
    id="claim-while-assessing",
    added=date(2026, 12, 7),
    # Incidents live a correlation window (minutes to hours) plus their response; a month is ample.
    retire_after=date(2027, 1, 7),
    why="an incident claims its response slot beside incident.assess instead of after it, one workflow task "
    "sooner; asked when the incident starts, it implies redelivery-memory, enrich-and-plan, fewer-cache-writes "
    "and slot-claim (one marker, not five)",
)

PATCHES: tuple[Patch, ...] = (
    REDELIVERY_MEMORY,
    APPROVAL_OUTCOME_STATUS,
    REUSED_EVENT_IDS,
    SEVERITY_ATTRIBUTE_RISES,
    FAILED_UNDO_NOTICE,
    APPROVAL_NOTICES,
    ENRICH_AND_PLAN,
    SLOT_CLAIM,
    FEWER_CACHE_WRITES,
    CLAIM_WHILE_ASSESSING,
)
