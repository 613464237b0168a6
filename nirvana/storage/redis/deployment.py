"""The deployment's id in Redis, under the deployment's prefix: a copy of PostgreSQL's
(nirvana/deployment_identity.py). Redis is no store of record: a Redis emptied or new
adopts the id again, and one that cannot be reached at start is not checked (the instance
starts degraded, as the bus does)."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("nirvana.instances")


class RedisDeploymentId:
    def __init__(self, url: str, prefix: str, *, timeout: float) -> None:
        self._url = url
        self._key = f"{prefix}deployment"
        self._timeout = timeout
        self.where = f"Redis (REDIS_URL, key {self._key})"

    async def adopt(self, candidate: str) -> str | None:
        """The id stored, storing `candidate` first if there is none (SET NX: of starters
        racing, one lands and the others read it); None if Redis cannot be reached."""
        client = aioredis.Redis.from_url(self._url, socket_connect_timeout=self._timeout,
                                         socket_timeout=self._timeout)
        try:
            held = await client.get(self._key)
            if held is None:
                await client.set(self._key, candidate, nx=True)
                held = await client.get(self._key)
            # Gone again in between (evicted, flushed): nothing contradicts ours.
            return candidate if held is None else held.decode()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.warning("Redis is not reachable at start (%s): its deployment id is not "
                        "checked", exc)
            return None
        finally:
            await client.aclose()
