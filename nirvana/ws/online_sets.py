"""What each instance keeps in Redis for the others (storage/redis/online.py): its users,
and their presence states, read together by an instance that starts, comes back from a
Redis outage or missed another's on/off (ws/cluster.py)."""

from __future__ import annotations

import time
from typing import Callable, Mapping, Protocol

ONLINE = "online"
FULL_EVERY = 30  # heartbeats: a whole rewrite of the states that often, in case one was lost
Kept = dict[int, tuple[str, int]]  # user -> (state, stamp in ms)
# Users and states as of the `seq`-th on/off; states None: the set of an older instance,
# which keeps none (its users' states are left as heard).
OnlineSet = tuple[int, set[int], Kept | None]


class OnlineSets(Protocol):
    """Each instance's users and their states. The writes (`put`, `keep`, `remove`) are
    queued: done in order, each before anything this instance sends after it is heard (the
    `st` that follows a state, the heartbeat after its set)."""

    def put(self, instance_id: str, seq: int, user_ids: list[int], states: Kept | None,
            ttl: float) -> None:
        """The set; and the states, all of them (None: the stored ones, renewed)."""

    def refused(self) -> bool:
        """Whether Redis refused a write since the last call, or a publish with writes
        failed (a state may be missing)."""

    async def get(self, instance_id: str) -> OnlineSet | None: ...

    async def all(self) -> dict[str, OnlineSet]: ...

    def remove(self, instance_id: str) -> None: ...

    def keep(self, instance_id: str, user_id: int, state: tuple[str, int] | None,
             ttl: float) -> None: ...


def states_read(sets: Mapping[str, tuple[set[int], Kept | None]],
                held_only_by_these: Callable[[int], bool]) -> tuple[Kept, set[int]]:
    """The latest state kept by the sets read (`online` too, stored where a user went back
    to it), and the users no set read keeps one for whom no other instance holds
    (`held_only_by_these`): those are `online`. A kept state counts even for a user not in
    its set yet: the states are written at each change, first device and last close, the
    set only at each heartbeat. The sets of older instances (no states stored) add neither:
    their users' states stay as heard."""
    stored = [(users, kept) for users, kept in sets.values() if kept is not None]
    latest: Kept = {}
    for _, kept in stored:
        for user_id, (state, stamp) in kept.items():
            if user_id not in latest or stamp >= latest[user_id][1]:
                latest[user_id] = (state, stamp)
    unset = {u for users, _ in stored for u in users
             if u not in latest and held_only_by_these(u)}
    return latest, unset


class StoredStates:
    """This instance's entries in the hash next to its set. An entry is written when a
    local user's state changes (set or heard here, a first device, a read), and stays until
    their last device here closes: one back to `online`, or a new session's first device,
    is stored as `online`, stamped, so it outvotes an older entry another instance left
    (one that died, or a write lost). A new session's entry, unchanged since its first
    device, outlives what it outvotes after twice the TTL (an older entry was left by an
    instance whose hash has expired since, or by a write since rewritten; one paused that
    long stores its set without its sockets when it wakes, ws/cluster.py), so a whole
    rewrite leaves it out. A return to `online` stays: it also repairs a live instance that
    missed the `st` (its link down, or paused) whenever it reads the hash. A heartbeat
    only renews the hash's expiry; it rewrites it whole after a Redis outage or a beat
    skipped (`rewrite_next`), after a refused write, after a gap between beats that the
    hash may not have outlived (a pause), and every FULL_EVERY beats."""

    def __init__(self, sets: OnlineSets, instance_id: str, ttl: float,
                 stamped: Callable[[int], tuple[str, int] | None], *, heartbeat: float,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._sets = sets
        self._id = instance_id
        self._ttl = ttl
        self._wall = wall  # the stamps' clock
        self._stamped = stamped  # a user's state and its stamp; None: offline
        self._kept: set[int] = set()  # users with an entry
        self._began: dict[int, tuple[str, int]] = {}  # user -> the new session's entry
        self._beats = 0
        self._full = True
        # A beat later than this after the last one may land after the hash expired: a
        # PEXPIRE then renews nothing, and the set would come back without its states.
        self._late = ttl - heartbeat
        self._clock = clock
        self._last = clock()

    def _stored(self, user_id: int, began: bool = False) -> tuple[str, int] | None:
        found = self._stamped(user_id)
        if found is None or (found[0] == ONLINE and not began and user_id not in self._kept):
            return None  # `online` needs no entry unless it replaces one (or may have to)
        return found

    def keep(self, user_id: int, *, began: bool = False) -> None:
        """A user held here: their state, if it has to be stored (`began`: their first
        device anywhere, a new session, whose `online` outvotes an earlier one's state)."""
        found = self._stored(user_id, began)
        if found is None:
            return
        if began and found[0] == ONLINE:
            self._began[user_id] = found
        elif self._began.get(user_id) != found:
            self._began.pop(user_id, None)
        self._kept.add(user_id)
        self._sets.keep(self._id, user_id, found, self._ttl)

    def left(self, user_id: int) -> None:
        """The user's last device here closed."""
        self._began.pop(user_id, None)
        if user_id in self._kept:
            self._kept.discard(user_id)
            self._sets.keep(self._id, user_id, None, self._ttl)

    def rewrite_next(self) -> None:
        self._full = True

    def beat(self, seq: int, users: list[int]) -> None:
        self._beats += 1
        refused = self._sets.refused()  # asked every beat, so one refusal counts once
        now = self._clock()
        late, self._last = now - self._last > self._late, now
        full = refused or late or self._full or self._beats % FULL_EVERY == 0
        states = None
        if full:
            self._full = False
            old = int((self._wall() - 2 * self._ttl) * 1000)
            states = {u: s for u in users if (s := self._stored(u)) is not None
                      and not (s == self._began.get(u) and s[1] < old)}
            self._kept = set(states)
            self._began = {u: t for u, t in self._began.items() if u in states}
        self._sets.put(self._id, seq, users, states, self._ttl)
