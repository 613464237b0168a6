"""Rate limits that hold across instances: each instance keeps the counters of every
instance, and tells the others of each hit and reset over the relay.

Why not a counter in Redis per check: the limiter's interface (domain/ratelimit.py) is
synchronous and sits on hot paths (every signed-in write, every sign-in attempt); a Redis
round trip per check would add its latency to each, and fail them all while Redis is
down. Mirrored, a check stays a dictionary lookup, and a sign-in lock earned on one
instance holds on the next within the relay's delay (milliseconds). What it gives up: an
instance that starts, or that missed hits while Redis was down, counts from the hits it
hears next (more lenient, never stricter, for at most one window).
"""

from __future__ import annotations

from typing import Any

from ...domain.clock import Clock
from ...domain.ratelimit import Limit, SlidingWindowLimiter
from .relay import Relay


class SharedLimiter(SlidingWindowLimiter):
    def __init__(self, name: str, limit: Limit, clock: Clock, shared: "SharedLimits") -> None:
        super().__init__(limit, clock)
        self.name = name
        self._shared = shared

    def hit(self, key: str) -> None:
        window = self.window()
        self.count_hit(key, window)
        self._shared.tell(["lh", self.name, key, window])

    def reset(self, key: str) -> None:
        super().reset(key)
        self._shared.tell(["lr", self.name, key])

    def reset_elsewhere(self, key: str) -> None:
        super().reset(key)


class SharedLimits:
    """Makes the limiters (`limiter(limit)`, in the same order on every instance: the order
    names them) and, once `attach`ed to the relay, keeps them in step with the others'."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._limiters: dict[str, SharedLimiter] = {}
        self._relay: Relay | None = None

    def limiter(self, limit: Limit) -> SharedLimiter:
        name = f"{len(self._limiters)}:{limit.count}/{limit.per_seconds:g}"
        made = self._limiters[name] = SharedLimiter(name, limit, self._clock, self)
        return made

    def attach(self, relay: Relay) -> None:
        self._relay = relay
        relay.on("lh", self._hit)
        relay.on("lr", self._reset)

    def tell(self, op: list[Any]) -> None:
        if self._relay is not None:
            self._relay.send(op)

    def _hit(self, sender: str, op: list[Any]) -> None:
        _, name, key, window = op
        limiter = self._limiters.get(name)
        if limiter is not None:
            limiter.count_hit(key, window)

    def _reset(self, sender: str, op: list[Any]) -> None:
        _, name, key = op
        limiter = self._limiters.get(name)
        if limiter is not None:
            limiter.reset_elsewhere(key)
