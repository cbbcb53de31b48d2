"""XORB_PLAYBOOK_INPUTS and XORB_AUTO_PLAYBOOKS: which playbooks may respond on their own, and with what."""

from __future__ import annotations

import json
from typing import Any


def parse_playbook_inputs(value: str) -> dict[str, dict[str, Any]]:
    """'{"contain-malicious-ip": {"firewall": "gw-1"}, "*": {...}}' -> that dict; ValueError naming
    what is wrong. Empty: {}."""
    if not value.strip():
        return {}
    try:
        data = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(data, dict):
        raise ValueError('expected a JSON object: {"<playbook id or *>": {"<input>": <value>, ...}}')
    for playbook_id, inputs in data.items():
        if not isinstance(inputs, dict):
            raise ValueError(f"{playbook_id!r}: expected an object of input names to values")
    return data


def parse_auto_playbooks(value: str) -> frozenset[str] | None:
    """'all' (or empty) -> None (every playbook may run on its own); 'none' -> {}; 'a,b' -> {'a', 'b'}."""
    text = value.strip()
    if text.lower() in ("", "all", "*"):
        return None
    if text.lower() == "none":
        return frozenset()
    return frozenset(part.strip() for part in text.split(",") if part.strip())
