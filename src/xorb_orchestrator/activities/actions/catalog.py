"""The actions this worker can run, as an explicit list: nothing registers itself by being imported.

service.py builds the list once at start-up (these built-ins; connectors add theirs) and passes it on: the
worker registers their activities, and its ActionCatalog goes to validation, planning and dry runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from xorb_orchestrator.activities.actions.approval_notice import NOTIFY_APPROVAL
from xorb_orchestrator.activities.actions.data_helpers import DATA_MERGE, DATA_SET
from xorb_orchestrator.activities.actions.http_request import HTTP_REQUEST
from xorb_orchestrator.activities.actions.notify import NOTIFY_WEBHOOK
from xorb_orchestrator.activities.actions.support import ActionActivity, ActionDeps, RunnableAction
from xorb_orchestrator.playbook.actions import ActionCatalog


def builtin_actions() -> list[RunnableAction]:
    """notify.webhook, notify.approval, http.request, data.set and data.merge."""
    return [NOTIFY_WEBHOOK, NOTIFY_APPROVAL, HTTP_REQUEST, DATA_SET, DATA_MERGE]


def catalog_of(actions: Sequence[RunnableAction]) -> ActionCatalog:
    """The specs of these actions (ValueError when a name repeats)."""
    return ActionCatalog(action.spec for action in actions)


def action_activities(actions: Sequence[RunnableAction], deps: ActionDeps) -> list[ActionActivity]:
    """The activity of every action, for the worker. Refuses a catalog with dangling undos."""
    problems = catalog_of(actions).problems()
    if problems:
        raise RuntimeError("; ".join(problems))
    return [action.build(deps) for action in actions]
