"""Which users each instance holds sockets for, as a Redis key per instance with a TTL: an
instance that dies or pauses stops renewing its key, and it expires (ws/cluster.py)."""

from __future__ import annotations

import json

from .bus import RedisBus


class RedisOnlineSets:
    def __init__(self, bus: RedisBus) -> None:
        self._redis = bus.redis
        self._prefix = f"{bus.prefix}online:"

    async def put(self, instance_id: str, user_ids: list[int], ttl: float) -> None:
        await self._redis.set(self._prefix + instance_id, json.dumps(user_ids),
                              px=int(ttl * 1000))

    async def get(self, instance_id: str) -> set[int] | None:
        raw = await self._redis.get(self._prefix + instance_id)
        return None if raw is None else set(json.loads(raw))

    async def all(self) -> dict[str, set[int]]:
        keys = [key async for key in self._redis.scan_iter(match=self._prefix + "*", count=100)]
        if not keys:
            return {}
        values = await self._redis.mget(keys)
        return {key.decode()[len(self._prefix):]: set(json.loads(raw))
                for key, raw in zip(keys, values) if raw is not None}

    async def remove(self, instance_id: str) -> None:
        await self._redis.delete(self._prefix + instance_id)
