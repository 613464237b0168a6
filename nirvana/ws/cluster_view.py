"""Who is online on the other instances, as this one sees them (ws/cluster.py keeps the
relay's side): the users each holds, from its on/offs and its set read from Redis with the
states stored beside it (ws/online_sets.py); the first read of every set, which a connect
waits for (`FirstRead`); a re-read after a gap in an instance's numbers, a heartbeat past
the last on/off heard, or an outage; and dropping an instance not heard for 2.5 heartbeats."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Iterable, TypeVar

from .hub import Hub
from .online_sets import OnlineSet, OnlineSets, StoredStates, states_read

# One logger with ws/cluster.py: for an operator this is one part (what crosses instances).
log = logging.getLogger("nirvana.ws.cluster")
T = TypeVar("T")


class OnlineElsewhere:
    """The other instances' users. `dropped(users)`: those that went offline with an
    instance dropped (their friends here are told after it)."""

    def __init__(self, hub: Hub, sets: OnlineSets, stored: StoredStates, *, heartbeat: float,
                 ttl: float, clock: Callable[[], float], bus_up: Callable[[], bool],
                 own_id: str, dropped: Callable[[set[int]], None]) -> None:
        self._hub = hub
        self._sets = sets
        self._stored = stored
        self._ttl = ttl
        self._clock = clock
        self._bus_up = bus_up
        self._own_id = own_id
        self._dropped = dropped
        self._held: dict[str, set[int]] = {}  # other instance -> users with sockets there
        self._where: dict[int, set[str]] = {}  # user -> other instances holding them
        self._heard: dict[str, float] = {}
        # Every on/off an instance sends is numbered: a gap in another's numbers, or a
        # heartbeat past the last one heard, means something was missed, and its set is
        # read again; a set older than what was heard since is not applied.
        self._seen: dict[str, int] = {}
        self._stale: set[str] = set()
        self._up_since = clock()
        self._checked = clock()
        self._complete = False  # read every set once: an "on" then tells a new session
        self._first_read = FirstRead(heartbeat)
        self._restores = 0  # a read begun before a restored() does not complete the view
        self._tasks: set[asyncio.Task[Any]] = set()

    def online(self, user_id: int) -> bool:
        return user_id in self._where

    def online_users(self) -> Iterable[int]:
        return self._where.keys()

    def instances(self) -> list[str]:
        return sorted(self._heard)

    async def settled(self) -> None:
        await self._first_read.wait()

    def knows_new_sessions(self) -> bool:
        """Whether an `on` for a user online nowhere is a new session: every set was read
        and no on/off missed since."""
        return self._complete and not self._stale

    def keep_here(self, users: Iterable[int]) -> None:
        """Their state changed (heard or read): stored by this instance for those it holds."""
        for user_id in users:
            if self._hub.here(user_id):
                self._stored.keep(user_id)

    # -- what the others tell -------------------------------------------------------------

    def heard(self, instance: str) -> None:
        self._heard[instance] = self._clock()

    def add(self, instance: str, user_id: int) -> bool:
        """Whether the user was online nowhere before."""
        new = not (self._hub.here(user_id) or user_id in self._where)
        self._held.setdefault(instance, set()).add(user_id)
        self._where.setdefault(user_id, set()).add(instance)
        return new

    def remove(self, instance: str, user_id: int) -> bool:
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

    def numbered(self, sender: str, seq: int) -> None:
        last = self._seen.get(sender)
        self._seen[sender] = seq
        if last is None or seq != last + 1:  # new to us, or something was missed
            self._stale.add(sender)
            self._spawn(self._reread(sender))

    def heartbeat_heard(self, sender: str, seq: int) -> None:
        self.heard(sender)
        last = self._seen.get(sender)
        if last is None or seq > last or sender in self._stale:
            self._spawn(self._reread(sender))  # new to us, or an on/off was missed

    def _offline_everywhere(self, user_id: int) -> None:
        if self._hub.presence is not None:
            self._hub.presence.offline_everywhere(user_id)

    # -- keeping the view ----------------------------------------------------------------

    def _apply(self, instance: str, users: set[int]) -> tuple[set[int], set[int]]:
        """Those who came online and went offline with the instance's set."""
        held = self._held.get(instance, set())
        came = {u for u in users - held if self.add(instance, u)}
        gone = {u for u in held - users if self.remove(instance, u)}
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
            self.keep_here(changed)  # before the next heartbeat: it only renews the hash
            came |= changed
        if came:  # learnt from the key (an instance back from a pause, or new to us)
            self._hub.changed_with_instance(came, online=True)
        if gone:
            self._hub.changed_with_instance(gone, online=False)

    def drop(self, instance: str) -> None:
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
                    gone.add(user_id)
        if gone:
            log.warning("instance %s stopped answering: %d users offline with it",
                        instance, len(gone))
            self._dropped(gone)  # announced below
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
        sets.pop(self._own_id, None)
        for instance in list(self._held):
            if instance not in sets:
                self.drop(instance)
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
                self.drop(instance)

    def restoring(self) -> None:
        """Redis is back after a loss: on/offs were missed, the view is incomplete until
        the sets are read again, and no instance is dropped for the silence meanwhile."""
        self._up_since = self._clock()
        self._complete = False
        self._restores += 1

    def reread_later(self) -> None:
        """Every set read again, in the background (this instance was paused)."""
        self._spawn(self._reread_all_logged())

    async def _reread_all_logged(self) -> None:
        try:
            await self.reread_all()
        except Exception:
            log.warning("re-reading who is online elsewhere failed", exc_info=True)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class FirstRead:
    """Until an instance has read every set once, a device that connects there cannot tell
    whether its user is online elsewhere: it would be taken for a first device anywhere,
    announced `online` over a state set elsewhere. A connect while such a read is under way
    waits for it, at most `bound` seconds (Redis not answering: it goes on as before, and so
    does every later connect while those reads last, at once). Several first reads under way
    at once (the start's, and one after an outage) are waited for until one succeeds or all
    have ended."""

    def __init__(self, bound: float) -> None:
        self._bound = bound
        self._read = False
        self._reads = 0  # first reads under way
        self._ended: asyncio.Event | None = None  # set when they have
        self._given_up: asyncio.Event | None = None  # the one waited for the bound already

    async def of(self, reading: Awaitable[T]) -> T:
        """A read of every set; the first that succeeds ends the waiting for good."""
        counted = not self._read
        if counted:
            self._reads += 1
            if self._ended is None:
                self._ended = asyncio.Event()
        try:
            found = await reading
            self._read = True
            return found
        finally:
            if counted:
                self._reads -= 1
                if self._ended is not None and (self._read or self._reads == 0):
                    self._ended.set()  # its waiters run after the read is applied
                    self._ended = None

    async def wait(self) -> None:
        ended = self._ended
        if ended is None or self._given_up is ended:
            return
        try:
            await asyncio.wait_for(ended.wait(), self._bound)
        except asyncio.TimeoutError:
            if self._given_up is ended:
                return
            self._given_up = ended
            log.warning("the other instances' sets not read after %.1f s: a connect goes on "
                        "without them (it may be taken for its user's first device)",
                        self._bound)
