"""The rate limit `query features` announces, enforced: at most N commands in any minute."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class RateLimit:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._taken: deque[float] = deque()

    def take(self) -> float | None:
        """Count one command: None when it is within the limit, else the seconds until one would be."""
        now = self._clock()
        while self._taken and self._taken[0] <= now - WINDOW_SECONDS:
            self._taken.popleft()
        if len(self._taken) >= self.per_minute:
            return self._taken[0] + WINDOW_SECONDS - now
        self._taken.append(now)
        return None
