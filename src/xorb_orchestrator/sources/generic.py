"""`generic`: the project's own JSON alert (GenericAlert), as accepted by POST /v1/alerts."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from xorb_orchestrator.models.alert import Alert
from xorb_orchestrator.models.observable import ObservableType
from xorb_orchestrator.sources.common import child_path
from xorb_orchestrator.sources.errors import AlertFormatError
from xorb_orchestrator.sources.generic_alert import OBSERVABLE_KEYS, GenericAlert

_TYPE_NAMES = {t.value for t in ObservableType}
_MESSAGES = {"missing": "is required", "extra_forbidden": "is not a field of the generic alert"}


def parse(event: dict[str, Any]) -> Alert:
    """A generic alert; its own `source` field (default `generic`) names the sender."""
    try:
        return GenericAlert.model_validate(event).to_alert()
    except ValidationError as exc:
        raise _format_error(exc, event) from None


def _format_error(exc: ValidationError, event: dict[str, Any]) -> AlertFormatError:
    errors = exc.errors()
    # A union field (observables: object or list) reports a type mismatch for the branch the
    # sender did not use; that one says nothing useful, the other branch's error does.
    useful = [e for e in errors if not (_in_union_branch(e) and e["type"] in ("dict_type", "list_type"))]
    err = (useful or errors)[0]
    message = str(err["msg"]).removeprefix("Value error, ")
    loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
    if message.startswith("observables.") and ":" in message:
        key, message = message.removeprefix("observables.").split(":", 1)
        return AlertFormatError(_observable_path(event.get("observables"), key), message.strip())
    path = "$"
    for part in loc:
        path = child_path(path, part)
    return AlertFormatError(path, _MESSAGES.get(err["type"], message))


def _in_union_branch(err: ErrorDetails) -> bool:
    return any(isinstance(p, str) and "[" in p for p in err["loc"])


def _observable_path(observables: object, key: str) -> str:
    """Where observable `key` sits: `$.observables.src_ip`, or `$.observables[2].value` in list form."""
    if isinstance(observables, list):
        for index, item in enumerate(observables):
            if isinstance(item, dict) and item.get("type") == key:
                known = key in OBSERVABLE_KEYS or key in _TYPE_NAMES
                return child_path(child_path("$.observables", index), "value" if known else "type")
    return child_path("$.observables", key)
