"""data.set and data.merge: shape data for later steps. Pure: no I/O, nothing changes outside."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ConfigDict, Field
from temporalio import activity

from xorb_orchestrator.activities.actions.registry import register_action
from xorb_orchestrator.activities.actions.support import action_args, action_attempt, action_error
from xorb_orchestrator.models.workflow_io import ActionInput, ActionResult
from xorb_orchestrator.playbook.actions import ActionArgs, ActionSpec

# A result is kept in Temporal's history (and read by later steps): keep it small.
MAX_RESULT_BYTES = 256 * 1024


class DataSetArgs(ActionArgs):
    """Any fields at all: they become the step's result."""

    model_config = ConfigDict(extra="allow")


class DataMergeArgs(ActionArgs):
    objects: list[dict[str, Any]] = Field(
        min_length=1, max_length=100, description="Objects merged left to right: later keys win."
    )
    deep: bool = Field(False, description="Merge nested objects key by key too (lists are replaced, not joined).")


SET = ActionSpec(
    name="data.set",
    description="Return the arguments as the step's result, e.g. to name a value for later steps.",
    args=DataSetArgs,
    mutating=False,
)
MERGE = ActionSpec(
    name="data.merge",
    description="Merge objects into one (later keys win; `deep` merges nested objects); the result is the merge.",
    args=DataMergeArgs,
    mutating=False,
)


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


register_action(SET, lambda deps: data_set)
register_action(MERGE, lambda deps: data_merge)
