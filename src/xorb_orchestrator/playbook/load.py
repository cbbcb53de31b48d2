"""Text in, runnable playbook out: parse, then validate."""

from __future__ import annotations

from collections.abc import Mapping

from xorb_orchestrator.playbook.errors import PlaybookInvalid
from xorb_orchestrator.playbook.parse import Format, parse_playbook_text
from xorb_orchestrator.playbook.playbook import Playbook
from xorb_orchestrator.playbook.validate import validate_playbook


def load_playbook_text(
    text: str,
    fmt: Format = "yaml",
    actions: Mapping[str, bool] | None = None,
    playbooks: Mapping[str, Playbook] | None = None,
) -> Playbook:
    """Parse and validate a playbook; raise PlaybookInvalid listing every problem."""
    playbook = parse_playbook_text(text, fmt)
    errors = validate_playbook(playbook, actions, playbooks)
    if errors:
        raise PlaybookInvalid(errors)
    return playbook
