"""The fan-out hub: which devices are connected, and live delivery to them.

`Hub` is an object the app owns (Services.hub), never a module-level registry. It implements
the chat domain's `Publisher` port: the domain calls it after a durable write, and it queues
the encoded event on every connected device of every member. Delivery has backpressure per
connection, not globally: each `Connection` has a bounded outgoing queue; when a client reads
too slowly its queue overflows, that one connection is closed with SLOW_CONSUMER (4008) and
the client resumes from its last position. No other connection is slowed down.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Callable, Iterable, Sequence

from ..domain.chat.entities import ChatEvent, Conversation, Message, Receipt
from ..domain.chat.ports import ChatPeers
from ..domain.presence import Presence
from . import protocol as p
from .presence_hub import PresenceFanout
from .typing import TypingTracker
from .views import conversation_out, message_out
from .views_chat import change_event

log = logging.getLogger("nirvana.ws.hub")
REPLAY_PATIENCE = 30.0  # seconds a replay waits for a client to read before giving up


class Connection:
    """One connected device: its outgoing queue and its resume state. No I/O here; the
    endpoint's sender task drains `next()` into the socket."""

    def __init__(self, user_id: int, session_id: str, max_queue: int) -> None:
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

    def push(self, text: str, pos: int | None = None) -> None:
        if self.close_request is not None:
            return  # nothing more after a close; what is in flight is resumed later
        if pos is not None:
            if self._resuming:
                self._held.append((pos, text))
                if len(self._held) > self._max_queue:
                    self.request_close(p.CloseCode.SLOW_CONSUMER, "too far behind",
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
            self.request_close(p.CloseCode.SLOW_CONSUMER, "outgoing queue overflow; resume",
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
                self.request_close(p.CloseCode.SLOW_CONSUMER, "not reading the replay",
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


class Hub:
    def __init__(self, peers: ChatPeers, typing_ttl: float = 6.0, *,
                 typing_throttle: float = 2.0, presence: Presence | None = None) -> None:
        self._peers = peers
        self._by_user: dict[int, set[Connection]] = {}
        self._friends: dict[int, set[int]] = {}  # of online users, loaded when they connect
        self.typing_tracker = TypingTracker(self._typing_event, ttl=typing_ttl,
                                            throttle=typing_throttle)
        self.presence = PresenceFanout(self, presence) if presence is not None else None

    # -- registry -------------------------------------------------------------------------

    def count(self, user_id: int) -> int:
        return len(self._by_user.get(user_id, ()))

    def online(self, user_id: int) -> bool:
        return bool(self._by_user.get(user_id))

    def connections(self) -> list[Connection]:
        return [c for conns in self._by_user.values() for c in conns]

    async def connected(self, conn: Connection) -> None:
        first = not self.online(conn.user_id)
        conn.hub_presence = self.presence
        self._by_user.setdefault(conn.user_id, set()).add(conn)
        friends = await self._peers.friend_ids(conn.user_id)
        self._friends[conn.user_id] = friends
        for f in friends:
            if f in self._friends:
                self._friends[f].add(conn.user_id)
        conn.push(p.encode(p.OnlineUsers(user_ids=self._online_friends(conn.user_id))))
        if first:
            self._announce(friends)
            if self.presence is not None:
                await self.presence.first_device(conn.user_id, set(friends))

    def disconnected(self, conn: Connection) -> None:
        conns = self._by_user.get(conn.user_id)
        if conns is None:
            return
        conns.discard(conn)
        if conns:
            return
        del self._by_user[conn.user_id]
        friends = self._friends.pop(conn.user_id, set())
        # Never stuck typing or online after the last device leaves.
        self.typing_tracker.stop_user(conn.user_id)
        self._announce(friends)
        if self.presence is not None:
            self.presence.last_device_left(conn.user_id)

    def relation_changed(self, a: int, b: int, friends: bool) -> None:
        """A friendship began, or ended (also by a block): the online users' friend sets and
        their `getOnlineUsers` lists follow at once, so presence never crosses a block."""
        changed = []
        for x, y in ((a, b), (b, a)):
            held = self._friends.get(x)
            if held is None or (y in held) == friends:
                continue
            if friends:
                held.add(y)
            else:
                held.discard(y)
            changed.append(x)
        self._announce(changed)

    def _online_friends(self, user_id: int) -> list[int]:
        return sorted(f for f in self._friends.get(user_id, ()) if self.online(f))

    def _announce(self, friends: Iterable[int]) -> None:
        for f in friends:
            if self.online(f):
                self._send(f, p.encode(p.OnlineUsers(user_ids=self._online_friends(f))))

    def close_all(self, code: int, reason: str) -> None:
        for conn in self.connections():
            conn.request_close(code, reason)

    # -- delivery -------------------------------------------------------------------------

    def _send(self, user_id: int, text: str, pos: int | None = None) -> None:
        for conn in list(self._by_user.get(user_id, ())):
            try:
                conn.push(text, pos)
            except Exception:
                # One failing listener is logged and never stops the fan-out to the others.
                log.exception("delivery to a connection failed")

    def message_posted(self, message: Message, conversation: Conversation) -> None:
        # One frame, encoded once, for every device of every member. No
        # conversation.updated follows: `newMessage` is the chat list's update itself
        # (docs/protocol.md), which halves the frames of the hottest path, and a
        # per-member copy of the whole conversation grew with members squared.
        text = p.encode(p.NewMessage(pos=message.pos, message=message_out(message)))
        for uid in message.audience:
            self._send(uid, text, message.pos)

    def receipt_recorded(self, receipt: Receipt) -> None:
        text = p.encode(p.ReceiptEvent(pos=receipt.pos, conversation_id=receipt.conversation_id,
                                       user_id=receipt.user_id, kind=receipt.kind.value,
                                       seq=receipt.seq))
        for uid in receipt.audience:
            self._send(uid, text, receipt.pos)

    def conversation_changed(self, conversation: Conversation, user_ids: Sequence[int]
                             ) -> None:
        for uid in user_ids:
            if self.online(uid):  # encoded per user: the unread count is theirs
                event = p.ConversationUpdated(conversation=conversation_out(conversation, uid))
                self._send(uid, p.encode(event))

    def typing(self, conversation_id: str, user_id: int, active: bool,
               audience: Sequence[int]) -> None:
        self.typing_tracker.update(conversation_id, user_id, active, audience)

    def _typing_event(self, conversation_id: str, user_id: int, active: bool,
                      audience: Sequence[int]) -> None:
        text = p.encode(p.TypingEvent(conversation_id=conversation_id, user_id=user_id,
                                      active=active, expires_in=self.typing_tracker.ttl))
        for uid in audience:
            self._send(uid, text)

    def event_recorded(self, event: ChatEvent, conversation: Conversation) -> None:
        text = p.encode(change_event(event))
        for uid in event.audience:
            self._send(uid, text, event.pos)
        # The removed get their member.removed above, and nothing more; a delete-for-me
        # concerns its user only.
        self.conversation_changed(conversation, [u for u in conversation.member_ids
                                                 if u in event.audience])
