"""The published JSON Schema of the native playbook format, generated from the models."""

from __future__ import annotations

from typing import Any

from xorb_orchestrator.playbook.playbook import Playbook

SCHEMA_ID = "https://xorb-orchestrator.dev/schemas/playbook.json"


def playbook_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) for playbook files, YAML or JSON; `xorb playbook schema` prints it.

    It describes shapes, types and bounds. References inside expressions, step order and the action names
    are checked by `xorb playbook validate`, which a schema cannot express.
    """
    schema = Playbook.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "xorb-orchestrator playbook",
    }
