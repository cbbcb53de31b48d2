"""Every workflow id scheme, in one place. Ids carry meaning: they are how Temporal refuses a duplicate.

- `incident-<correlation key>[-<window start>]`: one incident per key and window, so a re-delivered alert can
  never open a second one.
- `playbook-<incident id>-<n>`: the incident's n-th playbook run (the incident starts run 1; never reused).
- `<workflow id>/<step id>[#<item>...]`: a step instance; keys an action's idempotency (workflow id, never run
  id: a reset must not repeat an effect) and names the child workflow of a `playbook` step.
- `xorb-response-slots-<task queue>`: the one response-slot coordinator of a deployment.
- `dry-run-<random>`: the stand-in incident of a dry run (never a real incident's id).
- `containment-<incident id>`: the timer that ends the incident's containment.
- `ti-sync-<feed>`: a feed's on-demand sync; its Schedule `xorb-ti-<feed>` starts `ti-sync-<feed>-<time>` ones.
"""

from __future__ import annotations

from datetime import datetime

INCIDENT_PREFIX = "incident-"
PLAYBOOK_PREFIX = "playbook-"
DRY_RUN_PREFIX = "dry-run-"
_WINDOW_FORMAT = "%Y%m%dT%H%M%S"


def incident_id_for(key: str, window: datetime | None) -> str:
    """`incident-<key>` without a correlation window, else `incident-<key>-<window start>`."""
    if window is None:
        return INCIDENT_PREFIX + key
    return f"{INCIDENT_PREFIX}{key}-{window.strftime(_WINDOW_FORMAT)}"


def playbook_run_id(incident_id: str, number: int = 1) -> str:
    """The incident's `number`-th playbook run."""
    return f"{PLAYBOOK_PREFIX}{incident_id}-{number}"


def playbook_runs_prefix(incident_id: str) -> str:
    """What every playbook run id of this incident starts with."""
    return f"{PLAYBOOK_PREFIX}{incident_id}-"


def instance_key(scope_key: str, step_id: str, iteration_path: tuple[int, ...]) -> str:
    """A step instance's stable key: `<workflow id>/<step id>` plus `#<item>` per enclosing loop."""
    return f"{scope_key}/{step_id}" + "".join(f"#{index}" for index in iteration_path)


def slot_coordinator_id(task_queue: str) -> str:
    """Workflow id of the one coordinator per task queue (one queue = one deployment's workers)."""
    return f"xorb-response-slots-{task_queue}"


def guardrails_id(task_queue: str) -> str:
    """Workflow id of the one GuardrailsWorkflow per deployment (kill switch and budgets)."""
    return f"xorb-guardrails-{task_queue}"


def dry_run_incident_id(token: str) -> str:
    """The stand-in incident of one dry run (`token`: random, chosen by the caller)."""
    return DRY_RUN_PREFIX + token


def feed_sync_id(feed: str) -> str:
    """The workflow id of a feed's on-demand sync (the feed's Schedule starts `<schedule id>-<time>` ones)."""
    return f"ti-sync-{feed}"


def feed_schedule_id(feed: str) -> str:
    """The Temporal Schedule that syncs a feed every `interval`."""
    return f"xorb-ti-{feed}"


def containment_id(incident_id: str) -> str:
    """The ContainmentWorkflow holding an incident's timed containment."""
    return f"containment-{incident_id}"
