"""The errors an adapter raises for an event it cannot turn into an alert."""

from __future__ import annotations


class AlertFormatError(ValueError):
    """An event that is not a usable alert of its format; `path` is the JSON path of the bad field.

    `path` is a JSONPath into the event as the sender wrote it: `$.alert.severity`, `$.rule.level`,
    `$['kibana.alert.severity']` for a flat dotted key, `$` for the event as a whole.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class UnknownSourceError(ValueError):
    """A source name no adapter is registered for."""

    def __init__(self, source: str, known: list[str]) -> None:
        super().__init__(f"unknown alert source {source!r}; expected one of {', '.join(known)}")
        self.source = source
