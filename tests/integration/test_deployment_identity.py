"""The start's check that its stores are one deployment's, on the real PostgreSQL, the
real MongoDB-wire store and a real Redis: a new deployment's stores take its id, the same
stores start again, and a chat store or Redis that holds another deployment's id refuses."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace
from typing import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from nirvana.deployment_identity import DeploymentMismatch
from nirvana.settings import Settings
from nirvana.storage.mongo.deployment import MongoDeploymentId
from nirvana.storage.postgres.deployment import PgDeploymentId
from nirvana.storage.redis.deployment import RedisDeploymentId
from nirvana.storage.postgres.pool import create_pool, migrate
from nirvana.wiring.deployment import check_deployment_stores
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.system import free_port


class Deployments:
    """PostgreSQL databases and chat databases of this test, by short names, on the test
    servers; `start` runs a start's check on one of each (and a Redis if given)."""

    def __init__(self, stores, server_urls, base_settings: Settings) -> None:
        self._pool, self._mongo = stores
        self._database_url, self._mongodb_url = server_urls
        self._settings = base_settings
        self._tag = f"deployid_{secrets.token_hex(4)}_"
        self._made: set[str] = set()
        self._pools: list = []

    async def database(self, pg: str) -> str:
        """The URL of PostgreSQL database `pg`, made and migrated on first use."""
        name = self._tag + pg
        url = urlunsplit(urlsplit(self._database_url)._replace(path=f"/{name}"))
        if name not in self._made:
            await self._pool.execute(f'CREATE DATABASE "{name}"', timeout=60)
            self._made.add(name)
            pool = await create_pool(url, timeout=30, min_size=1, max_size=1)
            try:
                await migrate(pool)
            finally:
                await pool.close()
        return url

    async def start(self, pg: str, *, chat: str = "chat", redis: str | None = None) -> str:
        url = await self.database(pg)
        # A pool of its own, as each run.py has: starters racing race on PostgreSQL too.
        pool = await create_pool(url, timeout=30, min_size=1, max_size=1)
        self._pools.append(pool)
        settings = replace(self._settings, database_url=url, mongodb_url=self._mongodb_url,
                           mongodb_db=self._tag + chat, redis_url=redis)
        return await check_deployment_stores(settings, pool, self._mongodb_url)

    async def pool(self, pg: str):
        pool = await create_pool(await self.database(pg), timeout=30, min_size=1, max_size=1)
        self._pools.append(pool)
        return pool

    def chat_store(self, chat: str):
        return self._mongo[self._tag + chat]

    async def empty_chat_store(self, chat: str) -> None:
        await self._mongo.drop_database(self._tag + chat)

    async def close(self) -> None:
        for pool in self._pools:
            await pool.close()
        for name in self._made:
            await self._pool.execute(f'DROP DATABASE "{name}" WITH (FORCE)', timeout=60)
        for name in await self._mongo.list_database_names():
            if name.startswith(self._tag):
                await self._mongo.drop_database(name)


@pytest.fixture
async def deployments(stores, server_urls, base_settings) -> AsyncIterator[Deployments]:
    made = Deployments(stores, server_urls, base_settings)
    yield made
    await made.close()


async def test_new_stores_take_the_id_and_start_again_with_it(deployments, redis_server):
    first = await deployments.start("a", redis=redis_server.url)
    assert await deployments.start("a", redis=redis_server.url) == first
    assert await deployments.start("a") == first  # the embedded mode's check: no Redis


async def test_a_chat_store_of_another_deployment_is_refused(deployments):
    ours = await deployments.start("a")
    with pytest.raises(DeploymentMismatch) as refused:
        await deployments.start("typo")  # another PostgreSQL database, the same chat store
    message = str(refused.value)
    assert message.startswith("the chat store (MONGODB_URL, database ")
    assert f"it holds deployment id {ours}" in message and "\n" not in message
    assert await deployments.start("a") == ours  # the first deployment starts on, unharmed


async def test_a_chat_store_emptied_adopts_the_id(deployments):
    ours = await deployments.start("a")
    await deployments.empty_chat_store("chat")
    assert await deployments.start("a") == ours


async def test_a_redis_of_another_deployment_is_refused(deployments, redis_server):
    first = await deployments.start("a", redis=redis_server.url)
    # Another deployment on a chat store of the same MONGODB_DB elsewhere (here: this one,
    # emptied), so the same keys on the same Redis.
    await deployments.empty_chat_store("chat")
    with pytest.raises(DeploymentMismatch) as refused:
        await deployments.start("b", redis=redis_server.url)
    message = str(refused.value)
    assert message.startswith("Redis (REDIS_URL, key nirvana:")
    assert f"it holds deployment id {first}" in message


async def test_an_unreachable_redis_is_not_checked(deployments):
    ours = await deployments.start("a")
    assert await deployments.start("a", redis=f"redis://127.0.0.1:{free_port()}/0") == ours


async def test_starters_racing_on_new_stores_agree(deployments, redis_server):
    await deployments.database("racer")  # made and migrated, no id yet
    ids = await asyncio.gather(*(deployments.start("racer", redis=redis_server.url)
                                 for _ in range(4)))
    assert len(set(ids)) == 1


async def test_two_deployments_racing_for_new_stores_one_is_refused(deployments):
    await deployments.database("a")
    await deployments.database("b")
    results = await asyncio.gather(deployments.start("a"), deployments.start("b"),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["DeploymentMismatch", "str"], results


async def test_each_store_keeps_the_first_of_ids_racing(deployments, redis_server):
    """Candidates that differ race for each store (as two deployments' would): every
    racer reads back the one that landed."""
    stores = [
        [PgDeploymentId(await deployments.pool("racer"), "pg") for _ in range(4)],
        [MongoDeploymentId(deployments.chat_store("raced"), "chat") for _ in range(4)],
        [RedisDeploymentId(redis_server.url, "nirvana:raced:", timeout=5) for _ in range(4)],
    ]
    for racers in stores:
        held = await asyncio.gather(*(store.adopt(f"id{i}") for i, store in enumerate(racers)))
        assert len(set(held)) == 1, held
