"""Which users each instance holds sockets for, as a Redis key per instance with a TTL: an
instance that dies or pauses stops renewing its key, and it expires (ws/cluster.py). The
set is stamped with the number of the instance's last on/off it includes.

Next to it, a hash per instance keeps the presence states of its users that are not
`online` (`away`, `busy`, ... with the wall-clock millisecond it was set or heard there),
and a recent `online` that must outvote an older entry (a new session, a return to it), so
an instance that reads the set reads their states too. Every write goes out with the
relay's next publish, in one MULTI before it, in the order they were asked for: a state is
in Redis before any instance hears the `st` that announces it, a heartbeat's set and
states are written together, and a heartbeat never overwrites a state written after its
snapshot. A heartbeat mostly renews the hash's expiry only (ws/online_sets.py, StoredStates).
Entries kept one after another, with no other write queued between them, go out as one
write (one `HSET`, one `HDEL`), at the place of the first: a write never moves past
another write.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from .bus import REDIS_DOWN, RedisBus
from .relay import Relay

State = tuple[str, int]  # (state, stamp in ms)


class RedisOnlineSets:
    def __init__(self, bus: RedisBus, relay: Relay) -> None:
        self._bus = bus
        self._redis = bus.redis
        self._relay = relay
        self._refusals = bus.refusals
        self._prefix = f"{bus.prefix}online:"
        self._states = f"{bus.prefix}states:"
        # The hash entries of the group being queued (user -> "state stamp", None: removed),
        # and its write, extended while it is still the relay's last queued write: a burst
        # of connects costs one HSET, not one each.
        self._entries: dict[int, str | None] = {}
        self._group: Callable[[Any], None] | None = None

    def put(self, instance_id: str, seq: int, user_ids: list[int],
            states: dict[int, State] | None, ttl: float) -> None:
        """The instance's set, and the states of its users: rewritten whole (repaired after
        writes lost), or, None, kept as written and renewed."""
        key, ms = self._states + instance_id, int(ttl * 1000)
        # "states": the hash is kept (an older instance writes none, and ignores the field).
        users = json.dumps({"seq": seq, "users": user_ids, "states": 1})

        def write(pipe: Any) -> None:
            pipe.set(self._prefix + instance_id, users, px=ms)
            if states is None:
                pipe.pexpire(key, ms)
                return
            pipe.delete(key)
            if states:
                pipe.hset(key, mapping={u: f"{s} {t}" for u, (s, t) in states.items()})
                pipe.pexpire(key, ms)
        self._relay.write(write)

    async def get(self, instance_id: str
                  ) -> tuple[int, set[int], dict[int, State] | None] | None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.get(self._prefix + instance_id)
        pipe.hgetall(self._states + instance_id)
        raw, states = await pipe.execute()
        return None if raw is None else _read(raw, states)

    async def all(self) -> dict[str, tuple[int, set[int], dict[int, State] | None]]:
        keys = [key async for key in self._redis.scan_iter(match=self._prefix + "*", count=100)]
        if not keys:
            return {}
        names = [key.decode()[len(self._prefix):] for key in keys]
        pipe = self._redis.pipeline(transaction=False)
        pipe.mget(keys)
        for name in names:
            pipe.hgetall(self._states + name)
        values, *states = await pipe.execute()
        return {name: _read(raw, kept)
                for name, raw, kept in zip(names, values, states) if raw is not None}

    async def live(self) -> set[str] | None:
        """The instances whose set is there now (a live key: renewed each heartbeat, removed
        at a clean stop); None while Redis does not answer (domain/upload_sweep.py)."""
        if not self._bus.up:
            return None
        try:
            return {key.decode()[len(self._prefix):] async for key in
                    self._redis.scan_iter(match=self._prefix + "*", count=100)}
        except REDIS_DOWN:
            return None

    def refused(self) -> bool:
        seen, self._refusals = self._refusals, self._bus.refusals
        return seen != self._refusals

    def remove(self, instance_id: str) -> None:
        keys = (self._prefix + instance_id, self._states + instance_id)
        self._relay.write(lambda pipe: pipe.delete(*keys))

    def keep(self, instance_id: str, user_id: int, state: State | None, ttl: float) -> None:
        """The user's state on this instance (None: the user left it)."""
        entries = self._entries
        if self._group is None or self._relay.last_write() is not self._group:
            entries = self._entries = {}
            key, ms = self._states + instance_id, int(ttl * 1000)

            def write(pipe: Any) -> None:
                gone = [u for u, value in entries.items() if value is None]
                kept = {u: value for u, value in entries.items() if value is not None}
                if gone:
                    pipe.hdel(key, *gone)
                if kept:
                    pipe.hset(key, mapping=kept)
                    # As long as the set at most (no NX: Redis before 7 refuses it, and a
                    # refused command in the MULTI would take the publish with it).
                    pipe.pexpire(key, ms)
            self._group = write
            self._relay.write(write)
        entries[user_id] = None if state is None else f"{state[0]} {state[1]}"


def _read(raw: bytes, states: dict[bytes, bytes]
          ) -> tuple[int, set[int], dict[int, State] | None]:
    """A set and its states (None: written by an older instance, which keeps none)."""
    found = json.loads(raw)
    return found["seq"], set(found["users"]), _states(states) if found.get("states") else None


def _states(raw: dict[bytes, bytes]) -> dict[int, State]:
    out = {}
    for user, value in raw.items():
        state, stamp = value.decode().split(" ")
        out[int(user)] = (state, int(stamp))
    return out
