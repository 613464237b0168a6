"""The start's check that its stores are one deployment's, on the real PostgreSQL, the
real MongoDB-wire store and a real Redis: a new deployment's stores take its id, the same
stores start again, a chat store or Redis that holds another deployment's id refuses, and so
does a PostgreSQL older than the chat store's user id mark."""

from __future__ import annotations

import asyncio
import secrets
import socket
from dataclasses import replace
from typing import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as aioredis

from nirvana.deployment_identity import DeploymentCheckError, DeploymentMismatch
from nirvana.settings import Settings
from nirvana.storage.mongo.deployment import COLLECTION, DOCUMENT_ID, MongoDeploymentId
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

    async def start(self, pg: str, *, chat: str = "chat", redis: str | None = None,
                    mongodb_url: str | None = None, store_timeout: float = 30) -> str:
        url = await self.database(pg)
        # A pool of its own, as each run.py has: starters racing race on PostgreSQL too.
        pool = await create_pool(url, timeout=30, min_size=1, max_size=1)
        self._pools.append(pool)
        mongodb_url = mongodb_url or self._mongodb_url
        settings = replace(self._settings, database_url=url, mongodb_url=mongodb_url,
                           mongodb_db=self.chat_name(chat), redis_url=redis,
                           store_timeout=store_timeout)
        return await check_deployment_stores(settings, pool, mongodb_url)

    async def pool(self, pg: str):
        pool = await create_pool(await self.database(pg), timeout=30, min_size=1, max_size=1)
        self._pools.append(pool)
        return pool

    def chat_name(self, chat: str) -> str:
        return self._tag + chat

    def chat_store(self, chat: str):
        return self._mongo[self.chat_name(chat)]

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


async def test_a_copy_refused_by_redis_is_told_both_ways_out(deployments, redis_server):
    """A copy (restore --new-deployment) on a Redis that holds another id: the original's
    (a copied .env: change the settings) or an earlier copy's it replaces (forget it); the
    line names both, and forgetting the earlier copy's lets it start."""
    await deployments.start("earlier", redis=redis_server.url)
    await deployments.empty_chat_store("chat")  # the new copy's own chat store
    pool = await deployments.pool("copy")
    await pool.execute("INSERT INTO deployment (id, copied_at) VALUES ($1, now())",
                       secrets.token_hex(16))
    with pytest.raises(DeploymentMismatch) as refused:
        await deployments.start("copy", redis=redis_server.url)
    message = str(refused.value)
    key = f"nirvana:{deployments.chat_name('chat')}:deployment"
    assert "is a copy, restored with --new-deployment on " in message, message
    assert "unset MONGODB_URL (the copy's chats are in its embedded store)" in message
    assert "another REDIS_URL" in message
    assert "another MONGODB_DB would start it on an empty chat database" in message
    assert f"an earlier copy's that this one replaces, make it forget that copy's id: " \
           f"redis-cli -u <REDIS_URL> DEL {key})" in message
    assert "\n" not in message
    redis = aioredis.Redis.from_url(redis_server.url)
    await redis.delete(key)
    await redis.aclose()
    await deployments.start("copy", redis=redis_server.url)


async def test_a_copy_refused_by_the_chat_store_is_never_told_to_forget(deployments):
    """A copy on a chat store at MONGODB_URL that holds another id: the original's or an
    earlier copy's, it holds that deployment's chats either way (restore fills the copy's
    embedded store), so the one way out is the copy's own chats, never forgetting."""
    await deployments.start("earlier")  # an earlier copy took the chat store at MONGODB_URL
    pool = await deployments.pool("copy")
    await pool.execute("INSERT INTO deployment (id, copied_at) VALUES ($1, now())",
                       secrets.token_hex(16))
    with pytest.raises(DeploymentMismatch) as refused:
        await deployments.start("copy")
    message = str(refused.value)
    assert message.startswith("the chat store (MONGODB_URL, database "), message
    assert "is a copy, restored with --new-deployment on " in message
    assert ("Whether this store is the original's (a copied .env) or an earlier copy's that "
            "this one replaces, unset MONGODB_URL: the copy's chats are in its embedded "
            "store.") in message
    assert "forget-chat-id" not in message and "make it forget" not in message
    assert "\n" not in message


async def test_an_unreachable_redis_is_not_checked(deployments):
    ours = await deployments.start("a")
    assert await deployments.start("a", redis=f"redis://127.0.0.1:{free_port()}/0") == ours


async def test_starters_racing_on_new_stores_agree(deployments):
    """PostgreSQL's race: a last write winning would give starters different ids, and the
    chat store would refuse all but one. (Redis only ever adopts PostgreSQL's id here; its
    keep-the-first is test_each_store_keeps_the_id_it_holds.)"""
    await deployments.database("racer")  # made and migrated, no id yet
    ids = await asyncio.gather(*(deployments.start("racer") for _ in range(4)))
    assert len(set(ids)) == 1


async def test_two_deployments_racing_for_new_stores_one_is_refused(deployments):
    await deployments.database("a")
    await deployments.database("b")
    results = await asyncio.gather(deployments.start("a"), deployments.start("b"),
                                   return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["DeploymentMismatch", "str"], results


async def test_each_store_keeps_the_id_it_holds(deployments, redis_server):
    """A store that holds an id keeps it against another candidate, every time: the write
    must not land (ON CONFLICT DO NOTHING, a fixed _id, SET NX), and the one held is read."""
    pool = await deployments.pool("held")
    await pool.execute("INSERT INTO deployment (id) VALUES ('first')")
    chat = deployments.chat_store("held")
    await chat[COLLECTION].insert_one({"_id": DOCUMENT_ID, "id": "first"})
    redis = aioredis.Redis.from_url(redis_server.url)
    try:
        await redis.set("nirvana:held:deployment", "first")
        stores = [PgDeploymentId(pool, "pg"), MongoDeploymentId(chat, "chat"),
                  RedisDeploymentId(redis_server.url, "nirvana:held:", timeout=5)]
        adopted = [await store.adopt("second") for store in stores]
        held = [await pool.fetchval("SELECT array_agg(id) FROM deployment"),
                [d["id"] async for d in chat[COLLECTION].find()],
                [(await redis.get("nirvana:held:deployment")).decode()]]
    finally:
        await redis.aclose()
    assert adopted == ["first"] * 3
    assert held == [["first"]] * 3


async def test_a_postgresql_older_than_the_chat_store_is_refused(deployments):
    """A PostgreSQL restored alone from a backup older than the chat store's last start
    holds the same id, but would hand out again user ids the chat store has chats of."""
    pool = await deployments.pool("a")
    await deployments.start("a")
    await pool.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), 50)")
    await deployments.start("a")  # the mark: 50
    await pool.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), 20)")  # restored
    with pytest.raises(DeploymentMismatch) as refused:
        await deployments.start("a")
    message = str(refused.value)
    assert message.startswith("PostgreSQL (DATABASE_URL) is older than the chat store")
    assert "is at 20 but it had handed out user ids up to 50" in message
    assert ("setval(pg_get_serial_sequence('users', 'id'), greatest(<the highest the chat "
            "store names>, 50))") in message
    assert "\n" not in message
    # The step the message gives: the identity moved past the chat store's ids.
    await pool.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), 60)")
    await deployments.start("a")


async def test_the_user_id_mark_is_only_raised(deployments):
    """Starters racing with different PostgreSQL values: the highest stays, whatever the
    order ($max)."""
    chat = deployments.chat_store("marked")
    store = MongoDeploymentId(chat, "chat")
    await store.adopt("first")
    assert await store.raise_users_mark(50) == 0
    assert await store.raise_users_mark(10) == 50
    assert (await chat[COLLECTION].find_one({"_id": DOCUMENT_ID}))["users_mark"] == 50


async def test_a_redis_refusal_after_postgresql_took_a_new_id_says_so(deployments,
                                                                     redis_server):
    """Both stores restored from a backup taken before ids, beside the deployment's Redis:
    PostgreSQL makes a new id at this start, and the refusal points at that."""
    redis = aioredis.Redis.from_url(redis_server.url)
    await redis.set(f"nirvana:{deployments.chat_name('chat')}:deployment", "x" * 32)
    await redis.aclose()
    with pytest.raises(DeploymentMismatch) as refused:
        await deployments.start("a", redis=redis_server.url)
    message = str(refused.value)
    assert message.startswith("Redis (REDIS_URL, key nirvana:")
    assert "was given its id by this very start" in message
    assert "live messages and presence" in message and "\n" not in message


@pytest.mark.parametrize("user, acl, url_user, said", [
    # An ACL that lets the instance read but not write the key (as a read-only replica
    # would).
    ("reader", ["nopass", "~*", "+@read", "+@connection"], "reader",
     "refused the start's check of the deployment id: NoPermissionError"),
    # A wrong password is no Redis down: not skipped as unreachable (redis-py files
    # AuthenticationError under ConnectionError).
    ("signed", [">right", "~*", "+@all"], "signed:wrong",
     "refused the sign-in at the start's check of the deployment id"),
])
async def test_a_redis_that_refuses_the_check_fails_in_one_line(deployments, redis_server,
                                                                user, acl, url_user, said):
    """One line naming Redis, not a traceback, and no start unchecked."""
    redis = aioredis.Redis.from_url(redis_server.url)
    await redis.execute_command("ACL", "SETUSER", user, "on", *acl)
    await redis.aclose()
    netloc = urlsplit(redis_server.url).netloc
    with pytest.raises(DeploymentCheckError) as refused:
        await deployments.start("a", redis=f"redis://{url_user}@{netloc}/0")
    message = str(refused.value)
    assert message.startswith("Redis (REDIS_URL, key nirvana:") and "\n" not in message
    assert said in message


async def test_a_chat_store_that_does_not_answer_fails_with_the_hint(deployments):
    """A chat store that accepts and never answers (one building an index on a busy
    server looks the same): the index hint of open_stores, in one line."""
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        port = silent.getsockname()[1]
        with pytest.raises(DeploymentCheckError) as refused:
            await deployments.start("a", mongodb_url=f"mongodb://127.0.0.1:{port}/",
                                    store_timeout=0.5)
    finally:
        silent.close()
    assert str(refused.value).startswith(
        "the chat store gave no answer within store_timeout to the start's check of the "
        "deployment id: it is unreachable or not answering, or another instance is building")


async def test_a_postgresql_error_in_the_check_fails_in_one_line(deployments):
    """An error from PostgreSQL's own queries of the check (here its table gone after the
    schema steps ran): one line naming PostgreSQL, not a traceback."""
    pool = await deployments.pool("a")
    await pool.execute("DROP TABLE deployment")
    with pytest.raises(DeploymentCheckError) as refused:
        await deployments.start("a")
    message = str(refused.value)
    assert message.startswith("PostgreSQL (DATABASE_URL) failed the start's check of the "
                              "deployment id: UndefinedTableError: ")
    assert "\n" not in message
