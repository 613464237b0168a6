"""The fan-out hub: which devices are connected, and live delivery to them.

`Hub` is an object the app owns (Services.hub), never a module-level registry. It implements
the chat domain's `Publisher` port: the domain calls it after a durable write, and it queues
the encoded event on every connected device of every member. Delivery has backpressure per
connection, not globally: each `Connection` (connection.py) has a bounded outgoing queue.

Every frame for users goes through `_deliver`: with several instances (`elsewhere`, set by
the wiring with REDIS_URL; ws/cluster.py) it also goes to the other instances, which queue
it on the sockets they hold (`deliver_here`).
"""

from __future__ import annotations

import logging
from typing import Iterable, Protocol, Sequence

from ..domain.chat.entities import ChatEvent, Conversation, Message, Receipt
from ..domain.chat.ports import ChatPeers
from ..domain.presence import Presence, PresenceState
from . import events as ev
from .connection import Connection, UserQueues
from .mark_frames import conversation_updated_frame, receipt_frame
from .message_frames import new_message_frame
from .presence import PresenceFanout
from .typing import TypingTracker
from .views import change_event

log = logging.getLogger("nirvana.ws.hub")


class Elsewhere(Protocol):
    """The other instances, as the hub sees them (ws/cluster.py; None with one instance):
    who is online there, and the relay of what this hub delivers."""

    def online(self, user_id: int) -> bool: ...

    async def settled(self) -> None:
        """Returns once what the other instances hold is known (an instance that starts
        reads it first), or it is given up on: until then a connect would be taken for its
        user's first device anywhere."""

    def online_users(self) -> Iterable[int]: ...

    def frame(self, user_ids: Iterable[int], text: str, pos: int | None) -> None: ...

    def came_online(self, user_id: int, friends: set[int], *, began: bool) -> None:
        """The user's first socket here (`began`: their first anywhere, a new session)."""

    def went_offline(self, user_id: int, friends: set[int]) -> None: ...

    def relation_changed(self, a: int, b: int, friends: bool) -> None: ...


class Hub:
    def __init__(self, peers: ChatPeers, typing_ttl: float = 6.0, *,
                 typing_throttle: float = 2.0, presence: Presence | None = None) -> None:
        self._peers = peers
        self._by_user: dict[int, set[Connection]] = {}
        self._friends: dict[int, set[int]] = {}  # of online users, loaded when they connect
        self._queues: dict[int, UserQueues] = {}  # each connected user's byte bound
        self.typing_tracker = TypingTracker(self._typing_event, ttl=typing_ttl,
                                            throttle=typing_throttle)
        # Set by the wiring with REDIS_URL: every frame delivered here goes there too.
        self.elsewhere: Elsewhere | None = None
        self.presence = (PresenceFanout(presence, online=self.online, send=self._deliver)
                         if presence is not None else None)
        # Set once the server is stopping: the close every socket got, and any late one gets.
        self.stopping: tuple[int, str] | None = None

    # -- registry -------------------------------------------------------------------------

    def count(self, user_id: int) -> int:
        return len(self._by_user.get(user_id, ()))

    def here(self, user_id: int) -> bool:
        """Whether the user has a socket open on this instance."""
        return bool(self._by_user.get(user_id))

    def online(self, user_id: int) -> bool:
        """Whether the user has a socket open on any instance."""
        return bool(self._by_user.get(user_id)) or (
            self.elsewhere is not None and self.elsewhere.online(user_id))

    def online_users(self) -> list[int]:
        """Users with at least one socket open, on any instance."""
        if self.elsewhere is None:
            return list(self._by_user)
        return list(set(self._by_user).union(self.elsewhere.online_users()))

    def local_users(self) -> list[int]:
        return list(self._by_user)

    def connections(self) -> list[Connection]:
        return [c for conns in self._by_user.values() for c in conns]

    def queued_bytes(self) -> int:
        """Bytes queued for every open socket together (bounded by the users' bounds)."""
        return sum(q.queued_bytes for q in self._queues.values())

    def queued_frames(self) -> int:
        return sum(c.queued_frames for c in self.connections())

    async def settled(self) -> None:
        """Returns once a connect can tell whether its user is online elsewhere (at once
        with one instance). Awaited before the stop and per-user checks, so that nothing
        awaits between them and `connected`'s registration."""
        if self.elsewhere is not None:
            await self.elsewhere.settled()

    async def connected(self, conn: Connection) -> None:
        first_here = not self.here(conn.user_id)
        first = first_here and not (self.elsewhere is not None
                                    and self.elsewhere.online(conn.user_id))
        conn.hub_presence = self.presence
        conn.join(self._queues.setdefault(conn.user_id, UserQueues(conn.max_user_bytes)))
        self._by_user.setdefault(conn.user_id, set()).add(conn)
        friends = await self._peers.friend_ids(conn.user_id)
        self._friends[conn.user_id] = friends
        for f in friends:
            if f in self._friends:
                self._friends[f].add(conn.user_id)
        conn.push(ev.encode(ev.OnlineUsers(user_ids=self._online_friends(conn.user_id))))
        if first and self.presence is not None:
            self.presence.began(conn.user_id)
        if first_here and self.elsewhere is not None:
            self.elsewhere.came_online(conn.user_id, friends, began=first)
        if first:
            self._announce(friends)
            if self.presence is not None:
                await self.presence.first_device(conn.user_id, set(friends))

    def disconnected(self, conn: Connection) -> None:
        conn.release()
        conns = self._by_user.get(conn.user_id)
        if conns is None:
            return
        conns.discard(conn)
        if conns:
            return
        del self._by_user[conn.user_id]
        self._queues.pop(conn.user_id, None)
        friends = self._friends.pop(conn.user_id, set())
        # Never stuck typing or online after the last device leaves.
        self.typing_tracker.stop_user(conn.user_id)
        if self.elsewhere is not None:
            self.elsewhere.went_offline(conn.user_id, friends)
            if self.elsewhere.online(conn.user_id):
                return  # still online on another instance: nothing to tell
        self._announce(friends)
        if self.presence is not None:
            self.presence.last_device_left(conn.user_id)

    def relation_changed(self, a: int, b: int, friends: bool) -> None:
        """A friendship began, or ended (also by a block): the online users' friend sets and
        their `getOnlineUsers` lists follow at once, so presence never crosses a block."""
        if self.elsewhere is not None:
            self.elsewhere.relation_changed(a, b, friends)
        self.relation_changed_here(a, b, friends)

    def relation_changed_here(self, a: int, b: int, friends: bool) -> None:
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
        """Each of these users' sockets *here* get their fresh online list (every instance
        tells its own sockets)."""
        for f in friends:
            if f in self._by_user:
                self._send(f, ev.encode(ev.OnlineUsers(user_ids=self._online_friends(f))))

    def online_changed_elsewhere(self, friends: Iterable[int]) -> None:
        """A user came online or went offline on another instance: the online lists of
        their friends here change."""
        self._announce(friends)

    def friends_here_of(self, users: set[int]) -> list[int]:
        """The users with sockets here who are friends of any of `users` (a scan: only for
        the rare changes that come without the friends, e.g. an instance that died)."""
        return [u for u, friends in self._friends.items()
                if u in self._by_user and not friends.isdisjoint(users)]

    def changed_with_instance(self, users: set[int], online: bool) -> None:
        """These users went offline with an instance that stopped answering, or came back
        online with it: their friends with sockets here are told."""
        self._announce(self.friends_here_of(users))
        if self.presence is None:
            return
        # Only those with a friend here: an instance that starts learns of every user
        # online elsewhere, and reading each one's audience would tell no one.
        relevant: set[int] = set()
        for uid, friends in self._friends.items():
            if uid in self._by_user:
                relevant.update(friends & users)
        for uid in relevant:
            state = self.presence.state(uid) if online else PresenceState.OFFLINE
            self.presence.changed_with_instance(
                uid, state, lambda users, text: self.deliver_here(users, text, None))

    def close_all(self, code: int, reason: str) -> None:
        for conn in self.connections():
            conn.request_close(code, reason)

    def stop(self, code: int, reason: str) -> None:
        """Close every socket, and (ws/endpoint.py) each one that connects from now on."""
        self.stopping = (code, reason)
        self.close_all(code, reason)

    def close_behind(self, positions: Iterable[tuple[int, int]], code: int, reason: str
                     ) -> None:
        """(user, pos): close those of the user's sockets here that have not had the stream
        up to `pos` (sent, or started after it), so their clients resume what they missed."""
        for uid, pos in positions:
            for conn in list(self._by_user.get(uid, ())):
                # A socket still connecting is left alone: the head it is about to read
                # was asked after these positions were stored, so it covers them.
                if conn.live and max(conn.sent_pos, conn.live_from) < pos:
                    conn.request_close(code, reason)

    # -- delivery -------------------------------------------------------------------------

    def _deliver(self, user_ids: Iterable[int], text: str, pos: int | None = None) -> None:
        """Every frame for users goes through here: to their sockets on this instance, and
        (with several instances) to the other instances, which deliver it to theirs."""
        if self.elsewhere is not None:
            user_ids = list(user_ids)
            self.elsewhere.frame(user_ids, text, pos)
        for uid in user_ids:
            self._send(uid, text, pos)

    def deliver_here(self, user_ids: Iterable[int], text: str, pos: int | None) -> None:
        """A frame another instance delivered: to the sockets of these users on this one."""
        for uid in user_ids:
            self._send(uid, text, pos)

    def _send(self, user_id: int, text: str, pos: int | None = None) -> None:
        conns = self._by_user.get(user_id)
        if not conns:
            return
        for conn in tuple(conns):  # a copy: a push that closes a socket may change the set
            try:
                conn.push(text, pos)
            except Exception:
                # One failing listener is logged and never stops the fan-out to the others.
                log.exception("delivery to a connection failed")

    def send_to_user(self, user_id: int, text: str) -> None:
        """A frame for every connected device of one user, outside the chat stream (it has
        no `pos`): notifications use it."""
        self._deliver((user_id,), text)

    def message_posted(self, message: Message, conversation: Conversation) -> None:
        # One frame, encoded once, for every device of every member. No
        # conversation.updated follows: `newMessage` is the chat list's update itself
        # (docs/protocol.md), which halves the frames of the hottest path, and a
        # per-member copy of the whole conversation grew with members squared.
        self._deliver(message.audience, new_message_frame(message), message.pos)

    def receipt_recorded(self, receipt: Receipt) -> None:
        self._deliver(receipt.audience, receipt_frame(receipt), receipt.pos)

    def conversation_changed(self, conversation: Conversation, user_ids: Sequence[int]
                             ) -> None:
        for uid in user_ids:
            if self.online(uid):  # encoded per user: the unread count is theirs
                self._deliver((uid,), conversation_updated_frame(conversation, uid))

    def group_created(self, conversation: Conversation) -> None:
        self.conversation_changed(conversation, conversation.member_ids)

    def typing(self, conversation_id: str, user_id: int, active: bool,
               audience: Sequence[int]) -> None:
        self.typing_tracker.update(conversation_id, user_id, active, audience)

    def _typing_event(self, conversation_id: str, user_id: int, active: bool,
                      audience: Sequence[int]) -> None:
        text = ev.encode(ev.TypingEvent(conversation_id=conversation_id, user_id=user_id,
                                      active=active, expires_in=self.typing_tracker.ttl))
        self._deliver(audience, text)

    def event_recorded(self, event: ChatEvent, conversation: Conversation) -> None:
        text = ev.encode(change_event(event))
        self._deliver(event.audience, text, event.pos)
        # The removed get their member.removed above, and nothing more; a delete-for-me
        # concerns its user only.
        self.conversation_changed(conversation, [u for u in conversation.member_ids
                                                 if u in event.audience])
