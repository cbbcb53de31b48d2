"""data.set and data.merge: shape data for later steps. Pure: no I/O, nothing changes outside."""

from __future__ import annotations

import json
from typing import Any

from temporalio import activity

from xorb_orchestrator.activities.actions.support import RunnableAction, action_args, action_attempt, action_error
from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult
from xorb_orchestrator.playbook.builtin_actions import DATA_MERGE as MERGE
from xorb_orchestrator.playbook.builtin_actions import DATA_SET as SET

# A result is kept in Temporal's history (and read by later steps): keep it small.
MAX_RESULT_BYTES = 256 * 1024


@activity.defn(name=SET.name)
async def data_set(request: ActionInput) -> ActionResult:
    args = action_args(SET, request)
    async with action_attempt(SET.name, request):
        return _result(SET.name, dict(args.model_extra or {}))


@activity.defn(name=MERGE.name)
async def data_merge(request: ActionInput) -> ActionResult:
    args = action_args(MERGE, request)
    async with action_attempt(MERGE.name, request):
        merged: dict[str, Any] = {}
        for item in args.objects:
            merged = merge(merged, item, deep=args.deep)
        return _result(MERGE.name, merged)


def merge(left: dict[str, Any], right: dict[str, Any], *, deep: bool) -> dict[str, Any]:
    """`left` updated with `right`; with `deep`, nested objects present on both sides are merged too."""
    out = dict(left)
    for key, value in right.items():
        if deep and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, deep=True)
        else:
            out[key] = value
    return out


def _result(action: str, value: dict[str, Any]) -> ActionResult:
    size = len(json.dumps(value, default=str))
    if size > MAX_RESULT_BYTES:
        raise action_error(
            f"{action}: the result would be {size} bytes; at most {MAX_RESULT_BYTES} are kept",
            error_type="InvalidInput",
            retryable=False,
        )
    return ActionResult(outcome="completed", attempt=activity.info().attempt, details=value)


DATA_SET = RunnableAction(SET, lambda deps: data_set)
DATA_MERGE = RunnableAction(MERGE, lambda deps: data_merge)
