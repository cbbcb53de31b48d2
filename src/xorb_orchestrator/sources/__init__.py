"""Source adapters: one detector's event format in, one normalized Alert out.

Each adapter is a pure function `(event: dict) -> Alert | None`. None means "not an alert of this
format, ignore it and count it" (Suricata's flow, dns, stats ... events); a malformed alert raises
AlertFormatError naming the JSON path of its bad field. See docs/sources.md for the mappings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from xorb_orchestrator.models.alert import Alert
from xorb_orchestrator.sources import ecs, generic, ocsf, suricata, wazuh
from xorb_orchestrator.sources.errors import AlertFormatError, UnknownSourceError

Adapter = Callable[[dict[str, Any]], Alert | None]

ADAPTERS: dict[str, Adapter] = {
    "generic": generic.parse,
    "suricata": suricata.parse,
    "wazuh": wazuh.parse,
    "ecs": ecs.parse,
    "ocsf": ocsf.parse,
}
SOURCES = tuple(ADAPTERS)


def parse_event(source: str, event: object) -> Alert | None:
    """Turn one parsed JSON event of `source`'s format into an Alert.

    Returns None for an event the source emits that is not an alert (to be counted as ignored).
    Raises UnknownSourceError for a source with no adapter, and AlertFormatError (a ValueError,
    with `.path` and `.message`) for an event that is not a usable alert.
    """
    adapter = ADAPTERS.get(source)
    if adapter is None:
        raise UnknownSourceError(source, list(ADAPTERS))
    if not isinstance(event, dict):
        raise AlertFormatError("$", f"an alert must be a JSON object, got {type(event).__name__}")
    try:
        return adapter(event)
    except ValidationError as exc:
        # The adapters fit values to the Alert model; this is a safety net, not a code path.
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AlertFormatError("$", f"cannot be normalized: {where}: {first['msg']}") from None


__all__ = ["ADAPTERS", "SOURCES", "Adapter", "AlertFormatError", "UnknownSourceError", "parse_event"]
