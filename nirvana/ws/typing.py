"""Typing indicators: throttled, expiring by themselves, never stuck.

A `typing active` starts an indicator that lives `ttl` seconds unless renewed. A renewal
within `throttle` seconds of the last broadcast only extends it (the command is still
acked), so a client that sends one per keystroke costs its peers one event per `throttle`.
When the ttl passes without renewal, or the typist's last device disconnects, the peers get
`active: false`. Time: `clock` for the throttle and `call_later` for expiry, both injected
(by default the monotonic clock and the running event loop's timers).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

# (conversation_id, user_id, active, audience) → queue the event for the audience.
Broadcast = Callable[[str, int, bool, Sequence[int]], None]


class Timer(Protocol):
    """What `call_later` returns: the event loop's TimerHandle, or a test clock's timer."""

    def cancel(self) -> None: ...


@dataclass
class _Indicator:
    audience: Sequence[int]
    sent_at: float
    timer: Timer | None = None


class TypingTracker:
    def __init__(self, broadcast: Broadcast, *, ttl: float, throttle: float,
                 clock: Callable[[], float] = time.monotonic,
                 call_later: Callable[..., Timer] | None = None) -> None:
        self._broadcast = broadcast
        self.ttl = ttl
        self.throttle = throttle
        self._clock = clock
        self._call_later = call_later
        self._active: dict[tuple[str, int], _Indicator] = {}

    def update(self, conversation_id: str, user_id: int, active: bool,
               audience: Sequence[int]) -> None:
        key = (conversation_id, user_id)
        current = self._active.get(key)
        if not active:
            if current is not None:  # a stop without a start tells nobody anything
                self._stop(key)
            return
        now = self._clock()
        if current is None or now - current.sent_at >= self.throttle:
            current = self._active[key] = _Indicator(audience, now,
                                                     current.timer if current else None)
            self._broadcast(conversation_id, user_id, True, audience)
        current.audience = audience
        if current.timer is not None:
            current.timer.cancel()
        call_later = self._call_later or asyncio.get_running_loop().call_later
        current.timer = call_later(self.ttl, self._expire, key)

    def _expire(self, key: tuple[str, int]) -> None:
        if key in self._active:
            self._stop(key)

    def _stop(self, key: tuple[str, int]) -> None:
        indicator = self._active.pop(key)
        if indicator.timer is not None:
            indicator.timer.cancel()
        self._broadcast(key[0], key[1], False, indicator.audience)

    def stop_user(self, user_id: int) -> None:
        for key in [k for k in self._active if k[1] == user_id]:
            self._stop(key)

    def is_active(self, conversation_id: str, user_id: int) -> bool:
        return (conversation_id, user_id) in self._active
