"""The clock port every domain service takes, so tests can move time."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


def to_millis(t: datetime) -> datetime:
    """`t` to the millisecond: the precision of the chat store's dates (BSON), so a time
    sent live is the one read back from the store."""
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


class MillisecondClock:
    """A clock whose times are to the millisecond (`to_millis`)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> datetime:
        return to_millis(self._clock.now())
