"""Presence: online / away / busy / offline with last seen, and who may see it.

Who sees a user's presence: their friends and the people they share a conversation with;
nobody else (it is never broadcast to everyone). The state of a user with open sockets is
the last one any of their devices set (`online` when their first device connects); with no
socket it is `offline`. `last_seen` is stored when a user's first device connects and when
their last one leaves, so it survives restarts; while online it is "now".
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Iterable, Protocol

from .chat.changes import ChatChangeStore
from .chat.ports import ChatPeers
from .clock import Clock, to_millis


class PresenceState(str, enum.Enum):
    ONLINE = "online"
    AWAY = "away"
    BUSY = "busy"
    OFFLINE = "offline"


SETTABLE = (PresenceState.ONLINE, PresenceState.AWAY, PresenceState.BUSY)


class PresenceStore(Protocol):
    async def save_last_seen(self, user_id: int, at: datetime) -> None:
        """Raise the stored last_seen to `at` (never lowers it)."""
        ...

    async def last_seen(self, user_ids: Iterable[int]) -> dict[int, datetime]: ...


class Presence:
    def __init__(self, *, store: PresenceStore, peers: ChatPeers, changes: ChatChangeStore,
                 clock: Clock) -> None:
        self._store = store
        self._peers = peers
        self._changes = changes
        self._clock = clock

    async def audience(self, user_id: int, friends: set[int] | None = None) -> set[int]:
        """Who may see `user_id`'s presence and profile changes (symmetric). `friends`:
        the user's friends when the caller has just read them."""
        if friends is None:
            friends = await self._peers.friend_ids(user_id)
        return (friends | await self._changes.co_member_ids(user_id)) - {user_id}

    async def seen(self, user_id: int) -> datetime:
        now = to_millis(self._clock.now())  # as stored: the live value equals the stored one
        await self._store.save_last_seen(user_id, now)
        return now

    async def last_seen(self, user_ids: Iterable[int]) -> dict[int, datetime]:
        return await self._store.last_seen(user_ids)
