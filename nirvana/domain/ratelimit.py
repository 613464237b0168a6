"""In-process rate limiting: a sliding-window counter per key, with an injected clock.

Memory is bounded: at most `max_keys` keys are tracked; the oldest are dropped first, which
can only ever make the limiter more lenient, never lock anyone out. Several instances keep
each other's counters in step (nirvana/storage/redis/limits.py).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .errors import RateLimitedError
from .clock import Clock


@dataclass(frozen=True, slots=True)
class Limit:
    count: int
    per_seconds: float


class SlidingWindowLimiter:
    """Approximates a sliding window with two fixed windows (the previous one weighted)."""

    def __init__(self, limit: Limit, clock: Clock, max_keys: int = 100_000) -> None:
        self.limit = limit
        self._clock = clock
        self._max_keys = max_keys
        # key -> (window index, count in that window, count in the previous window)
        self._windows: OrderedDict[str, tuple[int, int, int]] = OrderedDict()

    def _state(self, key: str) -> tuple[int, int, int, float]:
        now = self._clock.now().timestamp()
        size = self.limit.per_seconds
        index = int(now // size)
        window, current, previous = self._windows.get(key, (index, 0, 0))
        if window == index - 1:
            window, current, previous = index, 0, current
        elif window != index:
            window, current, previous = index, 0, 0
        elapsed = (now - index * size) / size
        return index, current, previous, elapsed

    def check(self, key: str) -> None:
        """Raise RateLimitedError if `key` has no budget left; records nothing."""
        index, current, previous, elapsed = self._state(key)
        if current + previous * (1 - elapsed) >= self.limit.count:
            size = self.limit.per_seconds
            # The previous window's weight falls to zero by the end of this one.
            raise RateLimitedError(retry_after=(1 - elapsed) * size)

    def remaining(self, key: str) -> tuple[int, float]:
        """What `key` may still do now, and the seconds until the current window ends (when
        the previous window's weight is gone). Records nothing."""
        index, current, previous, elapsed = self._state(key)
        used = current + previous * (1 - elapsed)
        left = max(0, self.limit.count - int(used + 0.999))
        return left, (1 - elapsed) * self.limit.per_seconds

    def hit(self, key: str) -> None:
        self.count_hit(key, self.window())

    def window(self) -> int:
        """The current window's number: the same in every process whose clock agrees."""
        return int(self._clock.now().timestamp() // self.limit.per_seconds)

    def count_hit(self, key: str, window: int) -> None:
        """Count a hit made in `window` (the current one, or a hit another process counted
        a moment ago, perhaps in the previous one); a hit from an older window is gone."""
        index, current, previous, _ = self._state(key)
        if window == index:
            current += 1
        elif window == index - 1:
            previous += 1
        else:
            return
        self._windows[key] = (index, current, previous)
        self._windows.move_to_end(key)
        while len(self._windows) > self._max_keys:
            self._windows.popitem(last=False)

    def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    def consume(self, key: str) -> None:
        self.check(key)
        self.hit(key)
