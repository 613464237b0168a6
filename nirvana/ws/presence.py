"""Presence and profile fan-out for the hub: who is online/away/busy, told only to those
allowed to see it (domain/presence.py), and never stuck online.

A user's state while connected is the last one set by any of their devices (a new first
device starts at `online`); when their last device leaves they are `offline` and last_seen is
stored. With several instances each one keeps the states of every user online anywhere, its
own users' and those heard from the others (ws/cluster.py), so a user whose devices move
between instances keeps their state on all of them until their last device anywhere leaves.
Dead sockets are dropped by the WebSocket heartbeat (ping every `heartbeat_seconds`; no pong
within the same time closes), which ends in `Hub.disconnected` like a clean close.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any, Callable, Coroutine, Iterable, Protocol

from ..domain.chat.entities import Peer
from ..domain.presence import Presence, PresenceState
from . import events as ev
from .frames import PresenceOut
from .times import chat_time
from .views import presence_out, profile_out

log = logging.getLogger("nirvana.ws.presence")


class StatesElsewhere(Protocol):
    """The other instances (ws/cluster.py), told of each state set here."""

    def state_set(self, user_id: int, state: PresenceState) -> None: ...

    def announced_offline(self, user_id: int) -> None: ...


class PresenceFanout:
    def __init__(self, presence: Presence, *, online: Callable[[int], bool],
                 send: Callable[[Iterable[int], str], None],
                 wall: Callable[[], float] = time.time) -> None:
        # The hub's registry, as two functions: who is connected, and delivery to users.
        self._online = online
        self._send = send
        self.elsewhere: StatesElsewhere | None = None
        self._presence = presence
        # Of users online on any instance, as heard here: set here or on another instance
        # (absent: `online`). Dropped when the user is online nowhere.
        self._state: dict[int, PresenceState] = {}
        self._since: dict[int, datetime] = {}  # when the user's first device connected
        # When the state held here was set or heard (ms, wall clock; a first device: its
        # connect): of two states read with the online sets, the later wins.
        self._stamp: dict[int, int] = {}
        self._wall = wall
        # One per read of the online sets in flight: the users whose state changed here
        # meanwhile, which the read must not overwrite (token -> users).
        self._reads: dict[int, set[int]] = {}
        self._next_read = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def state(self, user_id: int) -> PresenceState:
        if not self._online(user_id):
            return PresenceState.OFFLINE
        return self._state.get(user_id, PresenceState.ONLINE)

    def stamped(self, user_id: int) -> tuple[str, int] | None:
        """The user's state and when it was set or heard (ms), as the online sets keep it:
        None when offline."""
        state = self.state(user_id)
        if state is PresenceState.OFFLINE:
            return None
        return state.value, self._stamp.get(user_id, 0)

    def came_elsewhere(self, user_id: int) -> None:
        """The user, online nowhere as far as this instance knows all, connected elsewhere:
        a state stored before now is from an earlier session and loses to this `online`."""
        if self._online(user_id):
            self._stamp[user_id] = self._now()

    def set_elsewhere(self, user_id: int, state: PresenceState) -> None:
        """A device on another instance set its user's state (already announced there)."""
        if self._online(user_id):
            self._state[user_id] = state
            self._stamp[user_id] = self._now()
            self._touch(user_id)

    def reading(self) -> int:
        """A read of the online sets begins: pass the token to `read_states` (or `unread`)."""
        self._next_read += 1
        self._reads[self._next_read] = set()
        return self._next_read

    def unread(self, token: int) -> None:
        self._reads.pop(token, None)

    def read_states(self, token: int, kept: dict[int, tuple[str, int]], unset: Iterable[int]
                    ) -> set[int]:
        """States read with the online sets: `kept` (the latest of each user's), and `unset`,
        users no instance read keeps a state for, held by no other (`online`). A state that
        changed here since `reading()` wins; so does one set later. Users offline are left
        out. Returns those whose state changed."""
        touched = self._reads.pop(token, set())
        changed = set()
        for user_id, (value, stamp) in kept.items():
            if (user_id not in touched and self._online(user_id)
                    and stamp >= self._stamp.get(user_id, 0)):
                state = PresenceState(value)
                if self.state(user_id) is not state:
                    changed.add(user_id)
                self._state[user_id], self._stamp[user_id] = state, stamp
        for user_id in unset:
            if user_id in touched or not self._online(user_id) or user_id in kept:
                continue
            if self.state(user_id) is not PresenceState.ONLINE:
                changed.add(user_id)
            self._state[user_id] = PresenceState.ONLINE
        return changed

    def _touch(self, user_id: int) -> None:
        for touched in self._reads.values():
            touched.add(user_id)

    def _now(self) -> int:
        return int(self._wall() * 1000)

    def back_elsewhere(self, user_id: int, state: PresenceState) -> None:
        """The user's last device here left while another instance was registering a new
        one: the offline this instance announced (if it did) is followed by their state,
        in this instance's order, so no one is left seeing them offline."""
        self.set_elsewhere(user_id, state)

        async def work() -> None:
            seen = await self._presence.seen(user_id)
            await self._announce(user_id, state, seen)
        self._spawn(work())

    def offline_everywhere(self, user_id: int) -> None:
        """The user's last device, on another instance, left: their next first device
        starts at `online` again (the instance it left on announced the offline)."""
        self._forget(user_id)

    def _forget(self, user_id: int) -> None:
        self._state.pop(user_id, None)
        self._since.pop(user_id, None)
        self._stamp.pop(user_id, None)
        self._touch(user_id)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Presence is best effort; a store hiccup must not take the socket down.
            log.warning("presence update failed: %r", task.exception())

    def _tell(self, user_ids: list[int], text: str) -> None:
        self._send(user_ids, text)

    async def _announce(self, user_id: int, state: PresenceState, last_seen: datetime | None,
                        friends: set[int] | None = None,
                        send: Callable[[list[int], str], None] | None = None) -> None:
        audience = await self._presence.audience(user_id, friends)
        # Re-read after the await: a reconnect or a newer state wins over a stale announce.
        if self.state(user_id) is not state:
            return
        if state is PresenceState.OFFLINE and self._online(user_id):
            # A device connected meanwhile and has not set its state yet: the user was
            # never offline for it, and its own first_device announces them online.
            return
        text = ev.encode(ev.PresenceEvent(user_id=user_id, state=state.value,
                                          last_seen=chat_time(last_seen) if last_seen
                                          else None))
        (send or self._tell)([u for u in audience if self._online(u)] + [user_id], text)

    def changed_with_instance(self, user_id: int, state: PresenceState,
                              send_here: Callable[[list[int], str], None]) -> None:
        """The instance that holds the user's sockets stopped answering (offline), or
        answers again (its state): each instance tells its own sockets (ws/cluster.py)."""
        async def work() -> None:
            seen = await self._presence.seen(user_id)
            await self._announce(user_id, state, seen, send=send_here)
        self._spawn(work())

    def began(self, user_id: int) -> None:
        """The user's first device anywhere: a new session, `online` as of now (stamped
        before its `on` goes out: stored with that stamp, it outvotes a state an earlier
        session left stored, ws/online_sets.py)."""
        self._state[user_id] = PresenceState.ONLINE
        self._stamp[user_id] = self._now()
        self._touch(user_id)

    async def first_device(self, user_id: int, friends: set[int] | None = None) -> None:
        """After `began`. `friends`: as the hub just read them, so they are not read twice
        per connect."""
        seen = self._since[user_id] = await self._presence.seen(user_id)
        await self._announce(user_id, PresenceState.ONLINE, seen, friends)

    def last_device_left(self, user_id: int) -> None:
        self._forget(user_id)

        async def work() -> None:
            seen = await self._presence.seen(user_id)
            await self._announce(user_id, PresenceState.OFFLINE, seen)
            if self.elsewhere is not None:
                # Only now, after the offline frame in this instance's order: an instance
                # whose new socket of the user registers later has received that frame
                # before it announces them online.
                self.elsewhere.announced_offline(user_id)
        self._spawn(work())

    async def set_state(self, user_id: int, state: PresenceState) -> None:
        if not self._online(user_id):
            return
        self._state[user_id] = state
        self._stamp[user_id] = self._now()
        self._touch(user_id)
        if self.elsewhere is not None:
            self.elsewhere.state_set(user_id, state)
        since = self._since.get(user_id)
        if since is None:  # the first device connected on another instance, which stored it
            since = (await self._presence.last_seen([user_id])).get(user_id)
        await self._announce(user_id, state, since)

    async def query(self, viewer: int, user_ids: Iterable[int]) -> list[PresenceOut]:
        """States of those of `user_ids` the viewer may see; the others are left out."""
        visible = (await self._presence.audience(viewer) | {viewer}) & set(user_ids)
        seen = await self._presence.last_seen(visible)
        return [presence_out(u, self.state(u).value, seen.get(u)) for u in sorted(visible)]

    async def profile_changed(self, peer: Peer) -> None:
        audience = await self._presence.audience(peer.id)
        text = ev.encode(ev.ProfileUpdated(user=profile_out(peer)))
        self._tell([u for u in audience if self._online(u)] + [peer.id], text)

    async def drain(self, timeout: float = 1.0) -> None:
        """Let pending offline announcements finish (the server is stopping)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
