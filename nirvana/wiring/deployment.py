"""The start's check that the stores configured are one deployment's
(nirvana/deployment_identity.py), on the stores as run.py names them."""

from __future__ import annotations

import asyncpg
from pymongo import AsyncMongoClient

from ..deployment_identity import DeploymentIdStore, check_deployment
from ..settings import Settings
from ..storage.mongo.deployment import MongoDeploymentId
from ..storage.postgres.deployment import PgDeploymentId
from ..storage.redis.deployment import RedisDeploymentId
from .instances import bus_prefix


async def check_deployment_stores(settings: Settings, pool: asyncpg.Pool,
                                  mongodb_url: str) -> str:
    """This deployment's id; DeploymentMismatch if the chat store or Redis is another's.
    One read a store on a start that finds them agreeing."""
    data_dir = settings.data_dir.resolve()
    postgres = PgDeploymentId(pool, "PostgreSQL (DATABASE_URL)" if settings.database_url
                              else f"the embedded PostgreSQL ({data_dir / 'postgres'})")
    chat = ("the chat store (MONGODB_URL" if settings.mongodb_url
            else f"the embedded chat store ({data_dir / 'mongo'}")
    timeout_ms = int(settings.store_timeout * 1000)
    mongo: AsyncMongoClient = AsyncMongoClient(mongodb_url, tz_aware=True,
                                               serverSelectionTimeoutMS=timeout_ms,
                                               timeoutMS=timeout_ms)
    try:
        copies: list[DeploymentIdStore] = [MongoDeploymentId(
            mongo[settings.mongodb_db], f"{chat}, database {settings.mongodb_db!r})")]
        if settings.redis_url is not None:
            copies.append(RedisDeploymentId(settings.redis_url, bus_prefix(settings.mongodb_db),
                                            timeout=settings.store_timeout))
        return await check_deployment(postgres, copies)
    finally:
        await mongo.close()
