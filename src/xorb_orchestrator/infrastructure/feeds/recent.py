"""What the latest syncs read, kept in this worker between the pages of one sync.

Each page of a sync is its own activity call, so a reader lives for one page only. What the first page downloaded
and parsed (a whole document, a MISP manifest, a TAXII response served in slices) is kept here for the pages after
it, keyed by feed and sync id. Only the latest few entries are kept, since a parsed document can be large; one that
was evicted, or lost with a worker restart, is simply read again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Recent(Generic[T]):
    """The `size` most recently used entries; the least recently used one goes first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, T] = OrderedDict()

    def get(self, key: Hashable) -> T | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: Hashable, value: T) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything, as a worker restart does."""
        self._entries.clear()
