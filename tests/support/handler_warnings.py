"""Warnings about unfinished update and signal handlers, turned into test errors.

Temporal warns (it does not fail) when a workflow completes while an update or signal handler is still running:
the caller of that update gets an error, or the signal's work is silently cut short. A test in which that
happens fails in its teardown, naming the workflow. (An `error` warning filter is not used: raised inside the
worker it would fail the workflow task and the test would hang until its timeout instead.)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.workflow import UnfinishedSignalHandlersWarning, UnfinishedUpdateHandlersWarning

UNFINISHED = (UnfinishedUpdateHandlersWarning, UnfinishedSignalHandlersWarning)


@contextmanager
def unfinished_handler_warnings() -> Iterator[list[str]]:
    """Collects the unfinished-handler warnings raised (in any thread) while inside; other warnings pass on."""
    found: list[str] = []
    others: list[warnings.WarningMessage] = []
    with warnings.catch_warnings(record=True) as caught:
        for category in UNFINISHED:  # every one of these, not just the first per place; others as configured
            warnings.simplefilter("always", category)
        try:
            yield found
        finally:
            for record in caught:
                if issubclass(record.category, UNFINISHED):
                    found.append(f"{record.category.__name__}: {record.message}")
                else:
                    others.append(record)
    # Handed back to pytest's own recorder once the recording has stopped: warned inside it, each would be
    # recorded again, and the loop over `caught` would never end.
    for record in others:
        warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
