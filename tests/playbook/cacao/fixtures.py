"""Small CACAO playbooks written for the tests: start -> action(s) -> end, with an http-api agent and target."""

from __future__ import annotations

import copy
from typing import Any

from xorb_orchestrator.playbook import Playbook, StepState, expression_context, render_value, validate_playbook

START = "start--00000000-0000-4000-8000-000000000001"
ACTION = "action--00000000-0000-4000-8000-000000000002"
SECOND = "action--00000000-0000-4000-8000-000000000003"
END = "end--00000000-0000-4000-8000-000000000004"
API = "http-api--00000000-0000-4000-8000-000000000005"
TIME = "2025-01-01T00:00:00.000Z"


def playbook(*actions: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """start -> each action in turn -> end. Action `i` is ACTION, SECOND ..., run by the http-api agent API."""
    ids = [ACTION, SECOND][: len(actions)]
    workflow: dict[str, Any] = {START: {"type": "start", "on_completion": ids[0]}}
    for index, (step_id, action) in enumerate(zip(ids, actions, strict=True)):
        following = ids[index + 1] if index + 1 < len(ids) else END
        workflow[step_id] = {"type": "action", "agent": API, "targets": [API], "on_completion": following, **action}
    workflow[END] = {"type": "end"}
    api = {"type": "http-api", "name": "api", "address": {"dname": ["api.test.local"]}}
    data: dict[str, Any] = {
        "type": "playbook",
        "spec_version": "cacao-2.0",
        "id": "playbook--00000000-0000-4000-8000-0000000000aa",
        "name": "fixture",
        "created_by": "identity--00000000-0000-4000-8000-0000000000bb",
        "created": TIME,
        "modified": TIME,
        "workflow_start": START,
        "workflow": workflow,
        "agent_definitions": {API: api},
        "target_definitions": {API: api},
    }
    data.update(copy.deepcopy(fields))
    return data


def http(command: str, **fields: Any) -> dict[str, Any]:
    return {"type": "http-api", "command": command, **fields}


def native_problems(converted: Playbook) -> list[str]:
    return [str(error) for error in validate_playbook(converted)]


def rendered(value: Any, inputs: dict[str, Any], steps: dict[str, StepState] | None = None) -> Any:
    """A converted step's arguments as the interpreter renders them."""
    context = expression_context(inputs=inputs, incident={}, steps=steps or {})
    return render_value(value, context)
