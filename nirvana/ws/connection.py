"""One connected device: its bounded outgoing queue, its resume state, its sends in flight.

No I/O here; the endpoint's sender task drains `next()` into the socket. When a client reads
too slowly its queue overflows and that one connection is closed with SLOW_CONSUMER (4008):
the client resumes from its last position, and no other connection is slowed down.

The queue is bounded in frames and in bytes, per socket and, through `UserQueues`, for all of
one user's sockets together: what a client that never reads can pin is bounded by the
settings (WS_QUEUE_BYTES, WS_USER_QUEUE_BYTES), whatever the size of the frames it asks for.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from typing import Callable

from .close_codes import CloseCode
from .presence import PresenceFanout

REPLAY_PATIENCE = 30.0  # seconds a replay waits for a client to read before giving up
OVERFLOW = "outgoing queue overflow; resume"


def frame_bytes(text: str) -> int:
    """What a queued frame holds in memory: O(1), unlike its UTF-8 length; for ASCII text
    both are within a few dozen bytes."""
    return sys.getsizeof(text)


class UserQueues:
    """The outgoing queues of one user's sockets, bounded together in bytes: ten sockets of
    one user that stop reading pin at most `max_bytes` between them, not ten times a
    socket's bound. Owned by the hub while the user has a socket."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self.members: set[Connection] = set()

    def make_room(self, conn: Connection, size: int) -> bool:
        """Close the user's socket furthest behind until `size` more bytes fit. False when
        that socket is `conn` itself (it must not queue the frame)."""
        while self.queued_bytes + size > self.max_bytes:
            worst = max(self.members, key=lambda c: c.queued_bytes, default=conn)
            if worst.queued_bytes == 0:
                worst = conn  # nothing to free elsewhere: the frame does not fit
            worst.request_close(CloseCode.SLOW_CONSUMER, OVERFLOW, drop_queued=True)
            if worst is conn:
                return False
        return True


class Connection:
    """One connected device: its outgoing queue and its resume state. No I/O here; the
    endpoint's sender task drains `next()` into the socket."""

    def __init__(self, user_id: int, session_id: str, max_queue: int,
                 inflight_sends: int = 64, *, max_bytes: int = 4 << 20,
                 max_user_bytes: int = 8 << 20) -> None:
        self.user_id = user_id
        self.session_id = session_id
        self._max_queue = max_queue
        self._queue: deque[str] = deque()
        self.max_bytes = max_bytes
        self.max_user_bytes = max_user_bytes
        # Bytes of the frames queued or held (below): never above max_bytes.
        self.queued_bytes = 0
        # Set by Hub.connected: the byte budget this socket shares with the user's others.
        self.user_queues: UserQueues | None = None
        # Set by the endpoint where the server allows it (ws/transport.py): writes a close
        # frame now, ahead of the `writable` wait a peer that does not read never ends.
        self.close_now: Callable[[int, str], None] | None = None
        self.close_written = False  # by close_now: the sender must not send another
        # What the sender task (`next`) and a paced replay (`push_paced`) wait on. Futures
        # made when a wait begins, not Events: an Event holds a deque for its whole life, and an
        # idle socket is mostly these few objects (figures in docs/performance.md).
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
        self.live = False  # set with live_from, once the endpoint has read the head
        self.live_seen = 0  # sent_pos when the running resume began
        # Set by Hub.connected: the presence commands act through it.
        self.hub_presence: PresenceFanout | None = None
        # Writes a frame at once when the socket takes it (ws/transport.py), else False;
        # set by the endpoint once `hello` is queued, so nothing can overtake it.
        self.direct: Callable[[str], bool] | None = None
        # Set by the sender task while it writes a frame it took (`next`): that write may
        # wait for the peer to read first, so the frame counts as queued until written (a
        # direct write in between would overtake it).
        self.sending = False
        # Sends awaiting their durable write (pipeline.py); beyond it, reading waits.
        self.send_slots = asyncio.Semaphore(inflight_sends)

    @property
    def queued_frames(self) -> int:
        return len(self._queue)

    def push(self, text: str, pos: int | None = None) -> None:
        if self.close_request is not None:
            return  # nothing more after a close; what is in flight is resumed later
        if pos is not None:
            if self._resuming:
                if len(self._held) >= self._max_queue or not self._take(text):
                    self.request_close(CloseCode.SLOW_CONSUMER, "too far behind",
                                       drop_queued=True)
                    return
                self._held.append((pos, text))
                return
            if pos <= self.sent_pos:
                return  # already replayed by a resume
            self.sent_pos = pos
        # Nothing queued ahead: write now, without waking the sender task. Otherwise (or
        # when the peer reads slowly) queue behind what is there, in order.
        if (not self._queue and not self.sending and self.direct is not None
                and self.direct(text)):
            return
        if len(self._queue) >= self._max_queue or not self._take(text):
            self.request_close(CloseCode.SLOW_CONSUMER, OVERFLOW, drop_queued=True)
            return
        self._queue.append(text)
        self._wake_sender()

    def push_first(self, text: str) -> None:
        """Queue a frame ahead of everything queued (the `hello`)."""
        self._take(text, force=True)
        self._queue.appendleft(text)
        self._wake_sender()

    def _take(self, text: str, force: bool = False) -> bool:
        """Count `text` against this socket's and its user's byte bounds; False (nothing
        counted) when it does not fit."""
        size = frame_bytes(text)
        if not force and self.queued_bytes + size > self.max_bytes:
            return False
        shared = self.user_queues
        if shared is not None and not force and not shared.make_room(self, size):
            return False
        self.queued_bytes += size
        if shared is not None:
            shared.queued_bytes += size
        return True

    def _give_back(self, size: int) -> None:
        self.queued_bytes -= size
        if self.user_queues is not None:
            self.user_queues.queued_bytes -= size

    def join(self, queues: UserQueues) -> None:
        """Share `queues`' byte bound from now on (what is queued already counts in it)."""
        self.user_queues = queues
        queues.members.add(self)
        queues.queued_bytes += self.queued_bytes

    def release(self) -> None:
        """The socket is gone: drop what it still holds and leave the user's bound, so no
        frame outlives the socket."""
        self._queue.clear()
        self._held.clear()
        self._give_back(self.queued_bytes)
        if self.user_queues is not None:
            self.user_queues.members.discard(self)
            self.user_queues = None

    def start_live(self, head: int) -> None:
        self.sent_pos = self.live_from = head
        self.live = True

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
        for _, text in held:
            self._give_back(frame_bytes(text))
        for pos, text in sorted(held):
            self.push(text, pos)

    def request_close(self, code: int, reason: str, drop_queued: bool = False) -> None:
        """Close after the queued frames (e.g. the error explaining why), or at once when
        `drop_queued` (an overflowing client resumes instead of reading a backlog)."""
        if self.close_request is None:
            self.close_request = (code, reason)
            if drop_queued:
                self._queue.clear()
                self._held.clear()
                self._give_back(self.queued_bytes)
                if self.close_now is not None:
                    # The peer is not reading: a close queued behind the `writable` wait
                    # would never be written (the keepalive's 1011 would come first).
                    self.close_now(code, reason)
                    self.close_written = True
            self._wake_sender()

    async def push_paced(self, text: str, patience: float | None = None) -> bool:
        """Queue a frame, first waiting for room in the queue. For replays: a resume may owe
        a client thousands of events, more than the queue holds, so it is paced by the
        client's reading instead of overflowing (which would make the client resume again,
        forever). Live fan-out never waits on one client: it uses `push`. A client that reads
        nothing for `patience` seconds (REPLAY_PATIENCE, read when called) is closed as a
        slow consumer. False once closed."""
        if patience is None:
            patience = REPLAY_PATIENCE
        while self._queue and not self._has_room(text) and self.close_request is None:
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
                text = self._queue.popleft()
                self._give_back(frame_bytes(text))
                return text
            if self.close_request is not None:
                return None
            self._ready = asyncio.get_running_loop().create_future()
            try:
                await self._ready
            finally:
                self._ready = None

    def _has_room(self, text: str) -> bool:
        size = frame_bytes(text)
        shared = self.user_queues
        return (len(self._queue) < self._max_queue and self.queued_bytes + size <= self.max_bytes
                and (shared is None or shared.queued_bytes + size <= shared.max_bytes))

    def _wake_sender(self) -> None:
        _resolve(self._ready)


def _resolve(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
