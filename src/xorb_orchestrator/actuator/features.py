"""The answer to `query features` (Language 1.0, 4.1): what this consumer speaks and carries out."""

from __future__ import annotations

from typing import Any

from xorb_orchestrator.actuator.answers import OK, Answer
from xorb_orchestrator.actuator.commands import PAIRS

VERSIONS = ["1.0"]
PROFILES = ["slpf"]


def features(asked: tuple[str, ...], rate_limit: int) -> Answer:
    """200 with the features asked for (none asked: the heartbeat, a bare 200)."""
    known: dict[str, Any] = {
        "versions": VERSIONS,
        "profiles": PROFILES,
        "pairs": {action: list(targets) for action, targets in PAIRS.items()},
        "rate_limit": rate_limit,
    }
    return Answer(OK, results={name: known[name] for name in asked})
