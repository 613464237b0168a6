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
from the keys when Redis is back. Who is online elsewhere, and the reads that keep it, is
ws/cluster_view.py; this module is what crosses the relay.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Iterable, Protocol

from ..domain.presence import PresenceState
from .close_codes import CloseCode
from .hub import Hub
from .cluster_view import OnlineElsewhere
from .online_sets import OnlineSets, StoredStates

log = logging.getLogger("nirvana.ws.cluster")

HEARTBEAT_SECONDS = 2.0
MISSED_HEARTBEATS = 2
RESTORED_REASON = "events may have been missed between instances; reconnect and resume"
PAUSED_REASON = "this instance was paused; reconnect and resume"


_BOOTTIME: int | None = getattr(time, "CLOCK_BOOTTIME", None)


def since_boot() -> float:
    """A monotonic clock that also counts time the machine was suspended (Linux's
    CLOCK_BOOTTIME), so a suspended host or guest counts as paused; `time.monotonic`
    where there is none."""
    return time.monotonic() if _BOOTTIME is None else time.clock_gettime(_BOOTTIME)


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
                 clock: Callable[[], float] = time.monotonic,
                 pause_clock: Callable[[], float] = since_boot) -> None:
        self._hub = hub
        self._relay = relay
        self._sets = sets
        self._bus_up = bus_up
        self.heartbeat = heartbeat
        self._ttl = heartbeat * (MISSED_HEARTBEATS + 0.5)
        self.instance_id = relay.instance_id
        self._seq = 0  # this instance's on/offs are numbered (cluster_view.py)
        self._clock = clock
        self._pause_clock = pause_clock
        self._beaten: float | None = None  # when this instance last beat, by pause_clock
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
        self.view = OnlineElsewhere(hub, sets, self._stored, heartbeat=heartbeat,
                                    ttl=self._ttl, clock=clock, bus_up=bus_up,
                                    own_id=self.instance_id,
                                    dropped=self._unannounced.difference_update)
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
        return self.view.online(user_id)

    def online_users(self) -> Iterable[int]:
        return self.view.online_users()

    async def settled(self) -> None:
        await self.view.settled()

    def instances(self) -> list[str]:
        """The other instances this one hears."""
        return self.view.instances()

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
        if self.view.online(user_id) and self._hub.presence is not None:
            self._unannounced.add(user_id)
            self._relay.send(["quiet", user_id])

    def announced_offline(self, user_id: int) -> None:
        if not self.view.online(user_id) and not self._hub.here(user_id):
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

    # -- what the others tell -------------------------------------------------------------

    def _on(self, sender: str, op: list[Any]) -> None:
        self.view.heard(sender)
        _, user_id, friends, seq = op
        self.view.numbered(sender, seq)
        if self.view.add(sender, user_id):
            if self.view.knows_new_sessions() and self._hub.presence is not None:
                self._hub.presence.came_elsewhere(user_id)
            self._hub.online_changed_elsewhere(friends)

    def _off(self, sender: str, op: list[Any]) -> None:
        _, user_id, friends, seq = op
        self.view.numbered(sender, seq)
        if self.view.remove(sender, user_id):
            self._hub.online_changed_elsewhere(friends)

    def _state_op(self, sender: str, op: list[Any]) -> None:
        _, user_id, state = op  # as older instances read it: no field more
        if self._hub.presence is not None:
            self._hub.presence.set_elsewhere(user_id, PresenceState(state))
            self.view.keep_here([user_id])

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
        if user_id in self._unannounced and not self._hub.online(user_id):
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
            self.view.keep_here([user_id])

    def _relation(self, sender: str, op: list[Any]) -> None:
        _, a, b, friends = op
        self._hub.relation_changed_here(a, b, friends)

    def _heartbeat_op(self, sender: str, op: list[Any]) -> None:
        self.view.heartbeat_heard(sender, op[1])

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
        self.view.drop(sender)  # a clean stop: its sockets closed with 1001 and reconnect

    # -- the heartbeat --------------------------------------------------------------------

    async def reread_all(self) -> None:
        await self.view.reread_all()

    def expire(self) -> None:
        self.view.expire()

    def beat(self) -> None:
        now = self._pause_clock()
        paused = self._beaten is not None and now - self._beaten > self._ttl
        self._beaten = now
        if paused:
            # Silent past the TTL (SIGSTOP, a suspended VM): the others dropped this instance
            # and told its users offline, and a user may have begun a new session elsewhere
            # since. As after an outage, its sockets close with 1001 and resume; the set is
            # stored without them, so no state of theirs comes back over a newer session's.
            self._missed_out(PAUSED_REASON)
        seq = self._seq
        # One snapshot: the set as of seq.
        self._stored.beat(seq, [] if paused else self._hub.local_users())
        self._relay.send(["hb", seq])  # heard after the set is stored
        if paused:
            self.view.reread_later()

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
        self._missed_out(RESTORED_REASON)
        self._beaten = None  # the beats skipped while Redis was down are no pause
        self.beat()
        try:
            await self.reread_all()
        except Exception:
            log.warning("re-reading who is online elsewhere failed", exc_info=True)

    def _missed_out(self, reason: str) -> None:
        # What was said between instances meanwhile is not known here (an outage, a pause):
        # one home for what both do, so they cannot drift apart.
        self._hub.close_all(CloseCode.GOING_AWAY, reason)
        self._stored.rewrite_next()  # writes were lost, or the hash expired meanwhile
        self.view.restoring()

    async def stop(self) -> None:
        """A clean stop: the others drop this instance at once instead of after 2.5
        heartbeats (its sockets were closed with 1001 and reconnect elsewhere)."""
        self._sets.remove(self.instance_id)  # written before the "bye" is heard
        self._relay.send(["bye"])
