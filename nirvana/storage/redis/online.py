"""Which users each instance holds sockets for, as a Redis key per instance with a TTL: an
instance that dies or pauses stops renewing its key, and it expires (ws/cluster.py). The
set is stamped with the number of the instance's last on/off it includes."""

from __future__ import annotations

import json

from .bus import RedisBus


class RedisOnlineSets:
    def __init__(self, bus: RedisBus) -> None:
        self._redis = bus.redis
        self._prefix = f"{bus.prefix}online:"

    async def put(self, instance_id: str, seq: int, user_ids: list[int], ttl: float) -> None:
        await self._redis.set(self._prefix + instance_id,
                              json.dumps({"seq": seq, "users": user_ids}), px=int(ttl * 1000))

    async def get(self, instance_id: str) -> tuple[int, set[int]] | None:
        raw = await self._redis.get(self._prefix + instance_id)
        return None if raw is None else _decode(raw)

    async def all(self) -> dict[str, tuple[int, set[int]]]:
        keys = [key async for key in self._redis.scan_iter(match=self._prefix + "*", count=100)]
        if not keys:
            return {}
        values = await self._redis.mget(keys)
        return {key.decode()[len(self._prefix):]: _decode(raw)
                for key, raw in zip(keys, values) if raw is not None}

    async def remove(self, instance_id: str) -> None:
        await self._redis.delete(self._prefix + instance_id)


def _decode(raw: bytes) -> tuple[int, set[int]]:
    found = json.loads(raw)
    return found["seq"], set(found["users"])
