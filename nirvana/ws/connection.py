"""One connected device: its bounded outgoing queue, its resume state, its sends in flight.

No I/O here; the endpoint's sender task drains `next()` into the socket. When a client reads
too slowly its queue overflows and that one connection is closed with SLOW_CONSUMER (4008):
the client resumes from its last position, and no other connection is slowed down.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable

from .close_codes import CloseCode
from .presence import PresenceFanout

REPLAY_PATIENCE = 30.0  # seconds a replay waits for a client to read before giving up


class Connection:
    """One connected device: its outgoing queue and its resume state. No I/O here; the
    endpoint's sender task drains `next()` into the socket."""

    def __init__(self, user_id: int, session_id: str, max_queue: int,
                 inflight_sends: int = 64) -> None:
        self.user_id = user_id
        self.session_id = session_id
        self._max_queue = max_queue
        self._queue: deque[str] = deque()
        # What the sender task (`next`) and a paced replay (`push_paced`) wait on. Futures
        # made when a wait begins, not Events: an Event holds a deque (~0.8 KiB), and an
        # idle socket is mostly these few objects (see NirvanaApp).
        self._ready: asyncio.Future[None] | None = None
        self._drained: asyncio.Future[None] | None = None  # resolved when a frame is taken
        self.close_request: tuple[int, str] | None = None
        # While a resume replays stored events, live durable events are held here so the
        # client sees each position once and in order.
        self._resuming = False
        self._held: list[tuple[int, str]] = []
        self.sent_pos = 0
        # hello.head: live durable events at or below it are not sent (a client resumes
        # them, or starts after them); set by the endpoint.
        self.live_from = 0
        self.live_seen = 0  # sent_pos when the running resume began
        # Set by Hub.connected: the presence commands act through it.
        self.hub_presence: PresenceFanout | None = None
        # Writes a frame at once when the socket takes it (ws/transport.py), else False;
        # set by the endpoint once `hello` is queued, so nothing can overtake it.
        self.direct: Callable[[str], bool] | None = None
        # Sends awaiting their durable write (pipeline.py); beyond it, reading waits.
        self.send_slots = asyncio.Semaphore(inflight_sends)

    def push(self, text: str, pos: int | None = None) -> None:
        if self.close_request is not None:
            return  # nothing more after a close; what is in flight is resumed later
        if pos is not None:
            if self._resuming:
                self._held.append((pos, text))
                if len(self._held) > self._max_queue:
                    self.request_close(CloseCode.SLOW_CONSUMER, "too far behind",
                                       drop_queued=True)
                return
            if pos <= self.sent_pos:
                return  # already replayed by a resume
            self.sent_pos = pos
        # Nothing queued ahead: write now, without waking the sender task. Otherwise (or
        # when the peer reads slowly) queue behind what is there, in order.
        if not self._queue and self.direct is not None and self.direct(text):
            return
        if len(self._queue) >= self._max_queue:
            self.request_close(CloseCode.SLOW_CONSUMER, "outgoing queue overflow; resume",
                               drop_queued=True)
            return
        self._queue.append(text)
        self._wake_sender()

    def push_first(self, text: str) -> None:
        """Queue a frame ahead of everything queued (the `hello`)."""
        self._queue.appendleft(text)
        self._wake_sender()

    def start_live(self, head: int) -> None:
        self.sent_pos = self.live_from = head

    def begin_resume(self) -> None:
        self._resuming = True
        self.live_seen = self.sent_pos

    def already_live(self, pos: int) -> bool:
        """Delivered live before the running resume began (the client asked late)."""
        return self.live_from < pos <= self.live_seen

    def end_resume(self, replayed_to: int) -> None:
        self._resuming = False
        self.sent_pos = max(self.sent_pos, replayed_to)
        held, self._held = self._held, []
        for pos, text in sorted(held):
            self.push(text, pos)

    def request_close(self, code: int, reason: str, drop_queued: bool = False) -> None:
        """Close after the queued frames (e.g. the error explaining why), or at once when
        `drop_queued` (an overflowing client resumes instead of reading a backlog)."""
        if self.close_request is None:
            self.close_request = (code, reason)
            if drop_queued:
                self._queue.clear()
            self._wake_sender()

    async def push_paced(self, text: str, patience: float = REPLAY_PATIENCE) -> bool:
        """Queue a frame, first waiting for room in the queue. For replays: a resume may owe
        a client thousands of events, more than the queue holds, so it is paced by the
        client's reading instead of overflowing (which would make the client resume again,
        forever). Live fan-out never waits on one client: it uses `push`. A client that reads
        nothing for `patience` seconds is closed as a slow consumer. False once closed."""
        while len(self._queue) >= self._max_queue and self.close_request is None:
            self._drained = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._drained, patience)
            except TimeoutError:
                self.request_close(CloseCode.SLOW_CONSUMER, "not reading the replay",
                                   drop_queued=True)
        if self.close_request is not None:
            return False
        self.push(text)
        return True

    async def next(self) -> str | None:
        """The next frame to send, or None once a close was requested and what was queued
        before it is sent."""
        while True:
            if self._queue:
                _resolve(self._drained)
                return self._queue.popleft()
            if self.close_request is not None:
                return None
            self._ready = asyncio.get_running_loop().create_future()
            try:
                await self._ready
            finally:
                self._ready = None

    def _wake_sender(self) -> None:
        _resolve(self._ready)


def _resolve(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
