"""The start's check that the stores configured are one deployment's, and PostgreSQL no older
than the chat store (nirvana/deployment_identity.py), on the stores as run.py names them."""

from __future__ import annotations

import asyncpg
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from ..deployment_identity import (
    DeploymentCheckError,
    DeploymentCopy,
    check_deployment,
    check_user_ids,
)
from ..settings import Settings
from ..storage.mongo.deployment import MongoDeploymentId
from ..storage.postgres.deployment import PgDeploymentId
from ..storage.redis.deployment import RedisDeploymentId
from .instances import bus_prefix
from .stores import no_answer

CHECK = "the start's check of the deployment id"


async def check_deployment_stores(settings: Settings, pool: asyncpg.Pool,
                                  mongodb_url: str) -> str:
    """This deployment's id; DeploymentCheckError (DeploymentMismatch if the chat store or
    Redis is another's, or PostgreSQL older than the chat store), in one line. At start
    only: a write and at most one read a store for the id, then PostgreSQL's users identity
    read (twice if below the mark) and the chat store's mark raised."""
    data_dir = settings.data_dir.resolve()
    postgres = PgDeploymentId(pool, "PostgreSQL (DATABASE_URL)" if settings.database_url
                              else f"the embedded PostgreSQL ({data_dir / 'postgres'})")
    chat_where = ("the chat store (MONGODB_URL" if settings.mongodb_url
                  else f"the embedded chat store ({data_dir / 'mongo'}")
    timeout_ms = int(settings.store_timeout * 1000)
    try:
        mongo: AsyncMongoClient = AsyncMongoClient(mongodb_url, tz_aware=True,
                                                   serverSelectionTimeoutMS=timeout_ms,
                                                   timeoutMS=timeout_ms)
        try:
            chat = MongoDeploymentId(mongo[settings.mongodb_db],
                                     f"{chat_where}, database {settings.mongodb_db!r})")
            copies: list[DeploymentCopy] = [chat]
            if settings.redis_url is not None:
                copies.append(RedisDeploymentId(
                    settings.redis_url, bus_prefix(settings.mongodb_db),
                    timeout=settings.store_timeout))
            ours = await check_deployment(postgres, copies)
            await check_user_ids(postgres, chat)
            return ours
        finally:
            await mongo.close()
    except PyMongoError as exc:  # the first to ask the chat store at start
        raise DeploymentCheckError(no_answer(CHECK) if exc.timeout else
                                   f"the chat store failed {CHECK}: {exc}") from None
    except (asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError, OSError) as exc:
        # Only PostgreSQL's queries raise these here: Redis's are caught in its store.
        raise DeploymentCheckError(
            f"{postgres.where} failed {CHECK}: {type(exc).__name__}: {exc}") from None
