"""The two stores of record: connecting to PostgreSQL and the MongoDB-wire store, and
bringing their schemas up to date (schema.sql's steps; the Beanie documents' indexes)."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from beanie import init_beanie
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from ..settings import Settings
from ..storage.mongo.documents import DOCUMENTS as CHAT_DOCUMENTS
from ..storage.mongo.presence import DOCUMENTS as PRESENCE_DOCUMENTS
from ..storage.mongo.upgrade import (
    DROP_AT_START_UP_TO,
    build_copies_index,
    build_key_index,
    retire_indexes,
)
from ..storage.postgres.pool import create_pool, migrate

# Beanie document classes; the chat storage adds its own.
DOCUMENT_MODELS: list[Any] = [*CHAT_DOCUMENTS, *PRESENCE_DOCUMENTS]

MONGO_MAX_IDLE_MS = 120_000
log = logging.getLogger("nirvana.chat.store")


async def init_documents(mongo: AsyncMongoClient, database: str, *,
                         drop_retired_indexes: bool = False,
                         drop_at_start_up_to: int = DROP_AT_START_UP_TO) -> None:
    """Bind the Beanie documents to `database` and bring its indexes to what they declare.
    The declared indexes are the schema: one a release stops declaring is dropped (an
    unused index still costs every write), except when chat_messages holds more than
    `drop_at_start_up_to` messages, whose drop would hold the chat store for long (upgrade.py
    `retire_indexes`). An index added since is built at once (upgrade.py
    `build_copies_index`, `build_key_index`, saying so).

    Only those drops and that build run past the client's timeout (upgrade.py
    `SCHEMA_TIMEOUT`), each said in the log first; init_beanie, left with no retired index
    to drop and no big index to build, keeps it, so a store that does not answer data
    commands fails the start within store_timeout, saying where to read why."""
    try:
        keep = await retire_indexes(mongo[database], drop_anyway=drop_retired_indexes,
                                    up_to=drop_at_start_up_to)
        await build_copies_index(mongo[database])
        await build_key_index(mongo[database])
        await init_beanie(database=mongo[database], document_models=DOCUMENT_MODELS,
                          allow_index_dropping=not keep)
    except PyMongoError as exc:
        if exc.timeout:  # else the error says what it is
            log.error(no_answer("the start's check of its indexes"))
        raise


def no_answer(check: str) -> str:
    """What a chat store that gave a start's check no answer within store_timeout means."""
    return (f"the chat store gave no answer within store_timeout to {check}: it is "
            "unreachable or not answering, or another instance is building an index, and "
            "then this start succeeds once the build is done (docs/operations.md, "
            "\"Upgrading a big chat store\")")


async def open_stores(
    settings: Settings, *, database_url: str, mongodb_url: str
) -> tuple[asyncpg.Pool, AsyncMongoClient]:
    """Connect to both stores and bring their schemas up to date."""
    pool = await create_pool(database_url, timeout=settings.store_timeout)
    try:
        await migrate(pool)
        mongo: AsyncMongoClient = AsyncMongoClient(
            mongodb_url,
            tz_aware=True,
            serverSelectionTimeoutMS=int(settings.store_timeout * 1000),
            timeoutMS=int(settings.store_timeout * 1000),
            # The embedded server closes a connection idle for 300 s; a pooled connection
            # older than that failed the first operation after a quiet spell (a 503, or a
            # socket refused with 1013). Pooled connections are replaced after 120 s idle.
            maxIdleTimeMS=MONGO_MAX_IDLE_MS,
        )
        await init_documents(mongo, settings.mongodb_db,
                             drop_retired_indexes=settings.drop_retired_indexes)
    except BaseException:
        await pool.close()
        raise
    return pool, mongo
