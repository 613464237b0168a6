"""The hub across instances (REDIS_URL): frames, presence and online lists cross.

Every frame the hub delivers (chat events, typing, presence, profiles, notifications,
`blog.published`) goes to the other instances through one relay, in this instance's
order; each instance decodes a batch once and queues each frame on the sockets *it* holds
for the listed users (`Hub.deliver_here`), so what an instance spends grows with the
recipients it holds. Frames are sent to every instance, not only to those known to hold a
recipient: a user connecting elsewhere at that moment still gets what is published after
its socket is registered there, with no window in which the sender's view is stale.

Presence is the union over instances. Each instance tells the others when a user's first
socket opens or last one closes on it ("on"/"off", with the user's friends, so the others
refresh just those friends' online lists), and every `heartbeat` seconds it stores its
whole set under a key with a TTL and sends a heartbeat. The on/offs are numbered: a gap in
the numbers, or a heartbeat past the last number heard, makes the others re-read the set
(never applying one older than what they heard since); an instance not heard for 2.5
heartbeats is dropped, and its users go offline for their friends (each instance tells its
own sockets). A state set on one instance goes to the others ("st"), which keep it with their
own users' states (ws/presence.py) until the user is online nowhere. Each instance also
stores its own users' states next to its set (written before the "st" is sent), so one that
reads a set reads those states too (ws/online_sets.py). A last
socket closing where no other instance is known to hold the user is followed by "last"; one
that holds a socket of theirs (a reconnect racing the close) answers "back" with their state,
which the closing instance announces after its offline, in its own order. A last socket
closing while another instance holds the user is followed by "quiet": if both closed at
once, each hears the other's "quiet" with the user online nowhere and announces the
offline. While Redis is down no instance is dropped: the view freezes, and is read again
from the keys when Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable, Iterable, Protocol

from ..domain.presence import PresenceState
from .close_codes import CloseCode
from .hub import Hub
from .online_sets import FirstRead, OnlineSet, OnlineSets, StoredStates, states_read

log = logging.getLogger("nirvana.ws.cluster")

HEARTBEAT_SECONDS = 2.0
MISSED_HEARTBEATS = 2
RESTORED_REASON = "events may have been missed between instances; reconnect and resume"


class Relay(Protocol):
    instance_id: str

    def on(self, kind: str, handler: Callable[[str, list[Any]], None]) -> None: ...

    def on_frames(self, handler: Callable[[list[int], str, int | None], None]) -> None: ...

    def send(self, op: list[Any]) -> None: ...

    def send_frame(self, user_ids: Iterable[int], text: str, pos: int | None) -> None: ...


class HubAcrossInstances:
    """Installs itself as `hub.elsewhere` (and the presence fan-out's). `run()` heartbeats;
    `restored()` is what to do when Redis comes back."""

    def __init__(self, hub: Hub, relay: Relay, sets: OnlineSets, *,
                 bus_up: Callable[[], bool], heartbeat: float = HEARTBEAT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._hub = hub
        self._relay = relay
        self._sets = sets
        self._bus_up = bus_up
        self.heartbeat = heartbeat
        self._ttl = heartbeat * (MISSED_HEARTBEATS + 0.5)
        self._clock = clock
        self.instance_id = relay.instance_id
        self._held: dict[str, set[int]] = {}  # other instance -> users with sockets there
        self._where: dict[int, set[str]] = {}  # user -> other instances holding them
        self._heard: dict[str, float] = {}
        # Every on/off an instance sends is numbered: a gap in another's numbers, or a
        # heartbeat past the last one heard, means something was missed, and its set is
        # read again; a set older than what was heard since is not applied.
        self._seq = 0
        self._seen: dict[str, int] = {}
        self._stale: set[str] = set()
        self._up_since = clock()
        self._checked = clock()
        # Local users whose "on" was sent; and those whose "back" waits for it (a socket
        # registered here, its "on" not sent yet): instance to answer.
        self._told: set[int] = set()
        self._owed: dict[int, str] = {}
        # Local users whose last socket here closed while another instance held them, so
        # nothing was announced ("quiet"); if that other one was closing at the same time,
        # whichever hears the other's "quiet" with the user online nowhere announces.
        self._unannounced: set[int] = set()
        self._stored = StoredStates(sets, self.instance_id, self._ttl, self._stamped,
                                    heartbeat=heartbeat, clock=clock)
        self._complete = False  # read every set once: an "on" then tells a new session
        self._first_read = FirstRead(heartbeat)
        self._restores = 0  # a read begun before a restored() does not complete the view
        self._tasks: set[asyncio.Task[Any]] = set()
        hub.elsewhere = self
        if hub.presence is not None:
            hub.presence.elsewhere = self
        relay.on_frames(hub.deliver_here)
        relay.on("on", self._on)
        relay.on("off", self._off)
        relay.on("st", self._state_op)
        relay.on("last", self._last)
        relay.on("back", self._back)
        relay.on("quiet", self._quiet)
        relay.on("rel", self._relation)
        relay.on("hb", self._heartbeat_op)
        relay.on("bye", self._bye)
        relay.on("gap", self._gap)

    # -- what the hub asks ----------------------------------------------------------------

    def online(self, user_id: int) -> bool:
        return user_id in self._where

    def online_users(self) -> Iterable[int]:
        return self._where.keys()

    async def settled(self) -> None:
        await self._first_read.wait()

    def instances(self) -> list[str]:
        """The other instances this one hears."""
        return sorted(self._heard)

    # -- what the hub tells ---------------------------------------------------------------

    def frame(self, user_ids: Iterable[int], text: str, pos: int | None) -> None:
        self._relay.send_frame(user_ids, text, pos)

    def came_online(self, user_id: int, friends: set[int], *, began: bool) -> None:
        self._seq += 1
        self._stored.keep(user_id, began=began)  # a new session's too
        self._relay.send(["on", user_id, list(friends), self._seq])
        self._told.add(user_id)
        self._unannounced.discard(user_id)
        owed = self._owed.pop(user_id, None)
        if owed is not None:
            self._send_back(user_id, owed)

    def went_offline(self, user_id: int, friends: set[int]) -> None:
        self._seq += 1
        self._stored.left(user_id)
        self._relay.send(["off", user_id, list(friends), self._seq])
        self._told.discard(user_id)
        self._owed.pop(user_id, None)
        if user_id in self._where and self._hub.presence is not None:
            self._unannounced.add(user_id)
            self._relay.send(["quiet", user_id])

    def announced_offline(self, user_id: int) -> None:
        if user_id not in self._where and not self._hub.here(user_id):
            # This instance announced the user offline; one that holds a socket of theirs
            # it has not heard of yet (a reconnect in flight) answers "back".
            self._relay.send(["last", user_id])

    def relation_changed(self, a: int, b: int, friends: bool) -> None:
        self._relay.send(["rel", a, b, friends])

    def state_set(self, user_id: int, state: PresenceState) -> None:
        self._stored.keep(user_id)
        self._relay.send(["st", user_id, state.value])

    def _stamped(self, user_id: int) -> tuple[str, int] | None:
        return None if self._hub.presence is None else self._hub.presence.stamped(user_id)

    def _keep_here(self, users: Iterable[int]) -> None:
        for user_id in users:
            if self._hub.here(user_id):
                self._stored.keep(user_id)

    # -- what the others tell -------------------------------------------------------------

    def _online_anywhere(self, user_id: int) -> bool:
        return self._hub.here(user_id) or user_id in self._where

    def _add(self, instance: str, user_id: int) -> bool:
        """Whether the user was online nowhere before."""
        new = not self._online_anywhere(user_id)
        self._held.setdefault(instance, set()).add(user_id)
        self._where.setdefault(user_id, set()).add(instance)
        return new

    def _remove(self, instance: str, user_id: int) -> bool:
        """Whether the user is now online nowhere."""
        held = self._held.get(instance)
        if held is not None:
            held.discard(user_id)
        where = self._where.get(user_id)
        if where is None:
            return False
        where.discard(instance)
        if where:
            return False
        del self._where[user_id]
        if self._hub.here(user_id):
            return False
        self._offline_everywhere(user_id)
        return True

    def _numbered(self, sender: str, seq: int) -> None:
        last = self._seen.get(sender)
        self._seen[sender] = seq
        if last is None or seq != last + 1:  # new to us, or something was missed
            self._stale.add(sender)
            self._spawn(self._reread(sender))

    def _on(self, sender: str, op: list[Any]) -> None:
        self._heard[sender] = self._clock()
        _, user_id, friends, seq = op
        self._numbered(sender, seq)
        if self._add(sender, user_id):
            if self._complete and not self._stale and self._hub.presence is not None:
                self._hub.presence.came_elsewhere(user_id)
            self._hub.online_changed_elsewhere(friends)

    def _off(self, sender: str, op: list[Any]) -> None:
        _, user_id, friends, seq = op
        self._numbered(sender, seq)
        if self._remove(sender, user_id):
            self._hub.online_changed_elsewhere(friends)

    def _state_op(self, sender: str, op: list[Any]) -> None:
        _, user_id, state = op  # as older instances read it: no field more
        if self._hub.presence is not None:
            self._hub.presence.set_elsewhere(user_id, PresenceState(state))
            self._keep_here([user_id])

    def _last(self, sender: str, op: list[Any]) -> None:
        _, user_id = op
        self._unannounced.discard(user_id)  # announced there
        if not self._hub.here(user_id):
            return
        if user_id in self._told:
            self._send_back(user_id, sender)
        else:  # after this instance's "on", or the sender would not hear the user online
            self._owed[user_id] = sender

    def _quiet(self, sender: str, op: list[Any]) -> None:
        _, user_id = op
        if user_id in self._unannounced and not self._online_anywhere(user_id):
            # Both closed at once, each seeing the other hold the user: announce here too
            # (the other does the same: a repeated frame, never none).
            self._unannounced.discard(user_id)
            if self._hub.presence is not None:
                self._hub.presence.last_device_left(user_id)

    def _send_back(self, user_id: int, to: str) -> None:
        if self._hub.presence is not None:
            state = self._hub.presence.state(user_id)
            self._relay.send(["back", user_id, state.value, to])

    def _back(self, sender: str, op: list[Any]) -> None:
        # Sent after the sender's "on": this instance hears the user online again first.
        _, user_id, state, to = op
        if to == self.instance_id and self._hub.presence is not None:
            self._hub.presence.back_elsewhere(user_id, PresenceState(state))
            self._keep_here([user_id])

    def _offline_everywhere(self, user_id: int) -> None:
        if self._hub.presence is not None:
            self._hub.presence.offline_everywhere(user_id)

    def _relation(self, sender: str, op: list[Any]) -> None:
        self._hub.relation_changed_here(*op[1:])

    def _heartbeat_op(self, sender: str, op: list[Any]) -> None:
        self._heard[sender] = self._clock()
        last = self._seen.get(sender)
        if last is None or op[1] > last or sender in self._stale:
            self._spawn(self._reread(sender))  # new to us, or an on/off was missed

    def _gap(self, sender: str, op: list[Any]) -> None:
        # Another instance could not publish some stream frames (its link to Redis broke):
        # the sockets here that have not got as far as the last of them resume from the
        # stores (None: every socket). One that resumed past it since keeps going.
        behind = op[1]
        if behind is None:
            self._hub.close_all(CloseCode.GOING_AWAY, RESTORED_REASON)
        else:
            self._hub.close_behind(behind, CloseCode.GOING_AWAY, RESTORED_REASON)

    def _bye(self, sender: str, op: list[Any]) -> None:
        self._drop(sender)  # a clean stop: its sockets closed with 1001 and reconnect

    # -- keeping the view ----------------------------------------------------------------

    def _apply(self, instance: str, users: set[int]) -> tuple[set[int], set[int]]:
        """Those who came online and went offline with the instance's set."""
        held = self._held.get(instance, set())
        came = {u for u in users - held if self._add(instance, u)}
        gone = {u for u in held - users if self._remove(instance, u)}
        return came, gone

    def _apply_read(self, token: int | None, sets: dict[str, OnlineSet]) -> None:
        """Sets read (after `presence.reading()`: `token`), with their users' states."""
        came: set[int] = set()
        gone: set[int] = set()
        applied = {}
        for instance, (seq, users, kept) in sets.items():
            last = self._seen.get(instance)
            if last is not None and seq < last:
                continue  # older than what was heard since: the next heartbeat reads it again
            self._seen[instance] = seq
            self._stale.discard(instance)
            applied[instance] = (users, kept)
            added, removed = self._apply(instance, users)
            came |= added
            gone |= removed
        if token is not None and self._hub.presence is not None:
            read = {i for i, (_, kept) in applied.items() if kept is not None}
            latest, unset = states_read(applied, lambda u: not self._hub.here(u) and (
                self._where.get(u, set()) <= read))
            changed = self._hub.presence.read_states(token, latest, unset)
            self._keep_here(changed)  # before the next heartbeat: it only renews the hash
            came |= changed
        if came:  # learnt from the key (an instance back from a pause, or new to us)
            self._hub.changed_with_instance(came, online=True)
        if gone:
            self._hub.changed_with_instance(gone, online=False)

    def _drop(self, instance: str) -> None:
        self._heard.pop(instance, None)
        self._seen.pop(instance, None)
        self._stale.discard(instance)
        users = self._held.pop(instance, set())
        gone = set()
        for user_id in users:
            where = self._where.get(user_id)
            if where is None:
                continue
            where.discard(instance)
            if not where:
                del self._where[user_id]
                if not self._hub.here(user_id):
                    self._offline_everywhere(user_id)
                    self._unannounced.discard(user_id)  # announced below
                    gone.add(user_id)
        if gone:
            log.warning("instance %s stopped answering: %d users offline with it",
                        instance, len(gone))
            self._hub.changed_with_instance(gone, online=False)

    def _reading(self) -> int | None:
        return None if self._hub.presence is None else self._hub.presence.reading()

    def _unread(self, token: int | None) -> None:
        if token is not None and self._hub.presence is not None:
            self._hub.presence.unread(token)  # the read failed: nothing to keep out

    async def _reread(self, instance: str) -> None:
        token = self._reading()
        try:
            found = await self._sets.get(instance)
        except BaseException:
            self._unread(token)
            raise
        # No set yet (an instance that just started) or any more (expired): it stays stale;
        # only silence past 2.5 heartbeats (`expire`) or its goodbye drops an instance.
        if found is None:
            self._unread(token)
        else:
            self._apply_read(token, {instance: found})

    async def reread_all(self) -> None:
        token, restores = self._reading(), self._restores
        try:
            sets = await self._first_read.of(self._sets.all())
        except BaseException:
            self._unread(token)
            raise
        sets.pop(self.instance_id, None)
        for instance in list(self._held):
            if instance not in sets:
                self._drop(instance)
        now = self._clock()
        for instance in sets:
            self._heard[instance] = now
            self._seen.pop(instance, None)  # a fresh read: the set is the truth
        self._apply_read(token, sets)
        self._complete = self._complete or restores == self._restores

    def expire(self) -> None:
        """Drop the instances not heard for 2.5 heartbeats — only while the bus is up and
        has been for that long, so a Redis outage does not take everyone offline."""
        now = self._clock()
        limit = self._ttl
        paused = now - self._checked > limit  # this process was paused or starved
        self._checked = now
        if not self._bus_up() or paused:
            # What the others said meanwhile may not have been read yet: they get the
            # same grace as after an outage.
            self._up_since = now
            return
        if now - self._up_since < limit:
            return
        for instance, heard in list(self._heard.items()):
            if now - heard > limit:
                self._drop(instance)

    def beat(self) -> None:
        seq = self._seq
        self._stored.beat(seq, self._hub.local_users())  # one snapshot: the set as of seq
        self._relay.send(["hb", seq])  # heard after the set is stored

    async def run(self) -> None:
        try:
            await self.reread_all()
        except Exception:
            log.warning("reading who is online elsewhere failed", exc_info=True)
        while True:
            if self._bus_up():
                self.beat()  # lost while Redis is down, like what the relay sends
            else:
                self._stored.rewrite_next()  # the hash may expire before the next beat
            self.expire()
            await asyncio.sleep(self.heartbeat)

    async def restored(self) -> None:
        """Redis is back after a loss: frames from other instances may have been missed, so
        every socket here closes with 1001 and its client resumes from its last position;
        the online view is read again from the keys."""
        self._hub.close_all(CloseCode.GOING_AWAY, RESTORED_REASON)
        self._up_since = self._clock()
        self._stored.rewrite_next()  # writes were lost while Redis was down
        self._complete = False  # on/offs were missed: until the sets are read again
        self._restores += 1
        self.beat()
        try:
            await self.reread_all()
        except Exception:
            log.warning("re-reading who is online elsewhere failed", exc_info=True)

    async def stop(self) -> None:
        """A clean stop: the others drop this instance at once instead of after 2.5
        heartbeats (its sockets were closed with 1001 and reconnect elsewhere)."""
        self._sets.remove(self.instance_id)  # written before the "bye" is heard
        self._relay.send(["bye"])

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
