"""The queued sends' deadlines, served by one timer instead of one per send."""

from __future__ import annotations

import asyncio
from collections import deque

from .work_items import Send

# A timer may run up to a millisecond early (uvloop counts in whole milliseconds): a send
# due within this is expired by the sweep that finds it, not left to a timer of its own.
_EARLY = 0.001


class SendDeadlines:
    """Each send's store_timeout (`Send.expire`), `after` seconds after it was queued unless
    the writer answered it first. Every deadline is as long as the others, so they fall due
    in the order the sends were queued: one timer, set for the earliest send still waiting,
    serves them all. A `call_later` and its cancel per send cost ~2 µs of each send's CPU
    (docs/performance.md, "A timer less per send")."""

    def __init__(self, after: float) -> None:
        self.after = after
        self._sends: deque[Send] = deque()  # in queue order, so in deadline order
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, send: Send) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a store used on another loop: that one's timer is gone
            self.close()
            self._loop = loop
        sends = self._sends
        while sends and sends[0].settled:  # answered: forgotten here, as the queue moves on
            sends.popleft()
        send.due = loop.time() + self.after
        sends.append(send)
        if self._timer is None:
            self._timer = loop.call_at(send.due, self._sweep)

    def _sweep(self) -> None:
        """Expire every waiting send that is due, in queue order; set the timer for the
        next one."""
        self._timer = None
        loop = self._loop
        assert loop is not None
        now = loop.time() + _EARLY
        sends = self._sends
        while sends:
            send = sends[0]
            if not send.settled:
                if send.due > now:
                    self._timer = loop.call_at(send.due, self._sweep)
                    return
                send.expire()
            sends.popleft()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._sends.clear()
