"""XORB_BUDGETS: the blast-radius budgets, e.g. `all=100/1h, block=20/1h, isolate=3/1h, target:user=5/1h`.

Each entry is `<what>=<limit>/<window>`: `all` (every effect), an effect kind (block, isolate, disable_account,
sign_out) or `target:<kind>` (ip, host, user, url); the window in s, m, h or d. Here only parsed and
checked, so a misspelt kind stops start-up instead of leaving a budget silently unenforced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

EFFECT_KINDS = ("block", "isolate", "disable_account", "sign_out")
TARGET_KINDS = ("ip", "host", "user", "url")
DEFAULT_BUDGETS = "all=100/1h, block=20/1h, isolate=3/1h, disable_account=5/1h, sign_out=5/1h"
_ENTRY = re.compile(r"^(?P<what>[a-z_:]+)=(?P<limit>\d{1,5})/(?P<count>\d{1,6})(?P<unit>[smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
MAX_WINDOW_SECONDS = 7 * 86_400  # the ledger keeps a week at most


@dataclass(frozen=True)
class BudgetSpec:
    scope: Literal["all", "effect", "target"]
    name: str
    limit: int
    window_seconds: int


def parse_budgets(text: str) -> list[BudgetSpec]:
    """The budgets of `text`; ValueError naming the entry that is wrong and what is allowed."""
    specs: list[BudgetSpec] = []
    seen: set[tuple[str, str]] = set()
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        match = _ENTRY.match(raw.replace(" ", ""))
        if match is None:
            raise ValueError(f"{raw!r}: expected <what>=<limit>/<window>, e.g. block=20/1h")
        what = match["what"]
        scope: Literal["all", "effect", "target"]
        if what == "all":
            scope, name = "all", "all"
        elif what.startswith("target:") and what[7:] in TARGET_KINDS:
            scope, name = "target", what[7:]
        elif what in EFFECT_KINDS:
            scope, name = "effect", what
        else:
            known = ", ".join(["all", *EFFECT_KINDS, *(f"target:{kind}" for kind in TARGET_KINDS)])
            raise ValueError(f"{raw!r}: unknown budget {what!r} (known: {known})")
        seconds = int(match["count"]) * _UNIT[match["unit"]]
        if not 0 < seconds <= MAX_WINDOW_SECONDS:
            raise ValueError(f"{raw!r}: the window must be between 1s and 7d")
        if (scope, name) in seen:
            raise ValueError(f"{raw!r}: budget {what!r} is given twice")
        seen.add((scope, name))
        specs.append(BudgetSpec(scope, name, int(match["limit"]), seconds))
    return specs
