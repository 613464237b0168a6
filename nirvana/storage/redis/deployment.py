"""The deployment's id in Redis, under the deployment's prefix: a copy of PostgreSQL's
(nirvana/deployment_identity.py). Redis is no store of record: a Redis emptied or new
adopts the id again, and one that cannot be reached at start is not checked (the instance
starts degraded, as the bus does)."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ...deployment_identity import DeploymentCheckError

log = logging.getLogger("nirvana.instances")


class RedisDeploymentId:
    crossing = "that deployment's live messages and presence"

    def __init__(self, url: str, prefix: str, *, timeout: float) -> None:
        self._url = url
        self._key = f"{prefix}deployment"
        self._timeout = timeout
        self.where = f"Redis (REDIS_URL, key {self._key})"
        self.forget = f"redis-cli -u <REDIS_URL> DEL {self._key}"

    async def adopt(self, candidate: str) -> str | None:
        """The id stored, storing `candidate` first if there is none (SET NX, read only if
        it did not land: of starters racing, one lands and the others read it); None if
        Redis cannot be reached."""
        client = aioredis.Redis.from_url(self._url, socket_connect_timeout=self._timeout,
                                         socket_timeout=self._timeout)
        try:
            if await client.set(self._key, candidate, nx=True):
                return candidate
            held = await client.get(self._key)
            # Gone again in between (evicted, flushed): nothing contradicts ours.
            return candidate if held is None else held.decode()
        except AuthenticationError as exc:  # redis-py files it under ConnectionError
            raise DeploymentCheckError(
                f"{self.where} refused the sign-in at the start's check of the deployment "
                f"id: {exc} (the user or password in REDIS_URL?)") from None
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.warning("Redis is not reachable at start (%s: %s): its deployment id is not "
                        "checked", type(exc).__name__, exc)
            return None
        except RedisError as exc:  # a replica, an ACL, out of memory, not Redis at all
            raise DeploymentCheckError(
                f"{self.where} refused the start's check of the deployment id: "
                f"{type(exc).__name__}: {exc} (a read-only replica, an ACL without SET and "
                f"GET on the key, or not a Redis?)") from None
        finally:
            await client.aclose()
