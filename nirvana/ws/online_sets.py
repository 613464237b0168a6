"""What each instance keeps in Redis for the others (storage/redis/online.py): its users,
and their presence states, read together by an instance that starts, comes back from a
Redis outage or missed another's on/off (ws/cluster.py)."""

from __future__ import annotations

from typing import Callable, Mapping, Protocol

Kept = dict[int, tuple[str, int]]  # user -> (state, stamp in ms): those not `online`
# Users and states as of the `seq`-th on/off; states None: the set of an older instance,
# which keeps none (its users' states are left as heard).
OnlineSet = tuple[int, set[int], Kept | None]


class OnlineSets(Protocol):
    """Each instance's users and their states. The writes (`put`, `keep`, `remove`) are
    queued: done in order, each before anything this instance sends after it is heard (the
    `st` that follows a state, the heartbeat after its set)."""

    def put(self, instance_id: str, seq: int, user_ids: list[int], states: Kept,
            ttl: float) -> None: ...

    async def get(self, instance_id: str) -> OnlineSet | None: ...

    async def all(self) -> dict[str, OnlineSet]: ...

    def remove(self, instance_id: str) -> None: ...

    def keep(self, instance_id: str, user_id: int, state: tuple[str, int] | None,
             ttl: float) -> None: ...


def states_read(sets: Mapping[str, tuple[set[int], Kept | None]],
                held_only_by_these: Callable[[int], bool]) -> tuple[Kept, set[int]]:
    """The latest state kept by the sets read, and the users no set read keeps one for
    whom no other instance holds (`held_only_by_these`): those are `online`. A kept state
    counts even for a user not in its set yet: the states are written at each change, first
    device and last close, the set only at each heartbeat. The sets of older instances
    (no states stored) add neither: their users' states stay as heard."""
    stored = [(users, kept) for users, kept in sets.values() if kept is not None]
    latest: Kept = {}
    for _, kept in stored:
        for user_id, (state, stamp) in kept.items():
            if user_id not in latest or stamp >= latest[user_id][1]:
                latest[user_id] = (state, stamp)
    unset = {u for users, _ in stored for u in users
             if u not in latest and held_only_by_these(u)}
    return latest, unset
