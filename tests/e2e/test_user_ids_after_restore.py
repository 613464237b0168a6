"""The way out of "PostgreSQL is older than the chat store" (docs/deployment.md, "What to do
when a start is refused"): `python -m nirvana.admin user-ids --move` moves PostgreSQL's users
identity past every user id the chat store names, also those of users who left a group, so
the next sign-up cannot inherit a former member's leftovers. Real stores, real server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import secrets
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from pymongo import AsyncMongoClient

from nirvana.admin import main as admin
from nirvana.storage.mongo.deployment import COLLECTION, DOCUMENT_ID
from tests.support.chat_client import Client
from tests.support.people import befriend, user


def _admin(environ: dict[str, str], *argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert admin(["user-ids", *argv], environ) == 0
    return out.getvalue()


async def test_the_identity_moves_past_a_user_who_left_a_group(live, settings, server_urls):
    ann, bob, carl = await user(live.http), await user(live.http), await user(live.http)
    for other in (bob, carl):
        await befriend(live.services, ann["id"], other["id"])
    group = (await live.http.post(
        "/api/v1/conversations", headers={"Authorization": f"Bearer {ann['jwt']}"},
        json={"kind": "group", "name": "Trip", "member_ids": [bob["id"], carl["id"]]})).json()
    leaving = await Client.connect(live.ws, carl)
    try:
        sent = await leaving.command("send", conversation_id=group["id"], client_id="1",
                                     text="my secret")
        assert sent["type"] == "ack", sent
        left = await leaving.command("leave", conversation_id=group["id"])
        assert left["type"] == "ack", left
    finally:
        await leaving.close()
    # PostgreSQL restored alone from before carl: no account of his, its identity behind.
    await live.services.pool.execute("DELETE FROM users WHERE id = $1", carl["id"])
    await live.services.pool.execute(
        "SELECT setval(pg_get_serial_sequence('users', 'id'), $1)", bob["id"])
    environ = {"DATABASE_URL": server_urls[0], "MONGODB_URL": server_urls[1],
               "MONGODB_DB": settings.mongodb_db, "DATA_DIR": str(settings.data_dir)}

    said = await asyncio.to_thread(_admin, environ)
    assert f"names user ids up to {carl['id']}," in said, said
    assert f"Move it to {carl['id']} with --move" in said, said
    said = await asyncio.to_thread(_admin, environ, "--move")
    assert f"Moved the identity to {carl['id']}." in said, said
    assert (await user(live.http))["id"] == carl["id"] + 1
    # Again: nothing to move, and never lowered.
    said = await asyncio.to_thread(_admin, environ, "--move")
    assert "The identity is past them." in said, said


async def test_the_chat_store_forgets_another_id_only_with_the_move(settings, server_urls):
    environ = {"DATABASE_URL": server_urls[0], "MONGODB_URL": server_urls[1],
               "MONGODB_DB": settings.mongodb_db, "DATA_DIR": str(settings.data_dir)}
    mongo: AsyncMongoClient = AsyncMongoClient(server_urls[1])
    held = mongo[settings.mongodb_db][COLLECTION]
    try:
        await held.insert_one({"_id": DOCUMENT_ID, "id": "another deployment's"})
        with pytest.raises(SystemExit):  # refused by the parser: never without the move
            await asyncio.to_thread(_admin, environ, "--forget-chat-id")
        assert await held.find_one({"_id": DOCUMENT_ID}) is not None
        said = await asyncio.to_thread(_admin, environ, "--move", "--forget-chat-id")
        assert "The chat store forgot deployment id another deployment's" in said, said
        assert await held.find_one({"_id": DOCUMENT_ID}) is None
    finally:
        await held.delete_many({})
        await mongo.close()


async def test_a_database_from_before_the_schema_and_an_empty_chat_store_are_said(
        server_urls, tmp_path):
    """A PostgreSQL of an older schema (here: none) is brought to this one's first, and a
    chat store with no chats (a mistyped MONGODB_DB reads an empty one) is said so."""
    name = f"userids_{secrets.token_hex(4)}"
    admin_db = await asyncpg.connect(server_urls[0], timeout=30)
    try:
        await admin_db.execute(f'CREATE DATABASE "{name}"', timeout=60)
        environ = {"DATABASE_URL": urlunsplit(urlsplit(server_urls[0])._replace(path=f"/{name}")),
                   "MONGODB_URL": server_urls[1], "MONGODB_DB": name,
                   "DATA_DIR": str(tmp_path)}
        said = await asyncio.to_thread(_admin, environ, "--move", "--forget-chat-id")
        assert f"The chat store holds no chats in database '{name}': are MONGODB_URL and " \
               f"MONGODB_DB the instances'?" in said, said
        assert "(or none): nothing to forget." in said, said
    finally:
        await admin_db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', timeout=60)
        await admin_db.close()


@contextlib.asynccontextmanager
async def _stores_naming(server_urls, tmp_path, highest: int):
    """A new PostgreSQL database with the schema and a chat store naming user `highest`:
    the command's environment, an admin connection to the server and one to the database."""
    name = f"userids_{secrets.token_hex(4)}"
    database_url = urlunsplit(urlsplit(server_urls[0])._replace(path=f"/{name}"))
    environ = {"DATABASE_URL": database_url, "MONGODB_URL": server_urls[1],
               "MONGODB_DB": name, "DATA_DIR": str(tmp_path)}
    admin_db = await asyncpg.connect(server_urls[0], timeout=30)
    mongo: AsyncMongoClient = AsyncMongoClient(server_urls[1])
    try:
        await admin_db.execute(f'CREATE DATABASE "{name}"', timeout=60)
        await asyncio.to_thread(_admin, environ)  # the schema
        await mongo[name]["chat_conversations"].insert_one(
            {"_id": "c", "member_ids": [highest]})
        db = await asyncpg.connect(database_url, timeout=30)
        try:
            yield environ, admin_db, db
        finally:
            await db.close()
    finally:
        await mongo.drop_database(name)
        await mongo.close()
        await admin_db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', timeout=60)
        await admin_db.close()


async def test_the_move_never_lowers_an_identity_moved_since_it_was_read(
        server_urls, tmp_path):
    """Sign-ups between the command's read of the identity and its move (instances left
    serving): the move keeps the higher value, read again under a lock that holds sign-ups."""
    async with _stores_naming(server_urls, tmp_path, 50) as (environ, admin_db, db):
        # Hold the command after its read of the identity (it reads `users` next)...
        waiting = db.transaction()
        await waiting.start()
        await db.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        move = asyncio.create_task(asyncio.to_thread(_admin, environ, "--move"))
        async with asyncio.timeout(60):
            while not await admin_db.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND "
                    "wait_event_type = 'Lock' AND query LIKE '%FROM users%'",
                    environ["MONGODB_DB"]):
                await asyncio.sleep(0.05)
        # ... while sign-ups take ids up to 80 (sequences are not transactional).
        await db.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), 80)")
        await waiting.commit()
        said = await asyncio.wait_for(move, 60)
        assert "Move it to" not in said and \
            "The identity is past them: sign-ups moved it to 80 since." in said, said
        assert await db.fetchval("SELECT last_value FROM users_id_seq") == 80


async def test_an_identity_whose_next_id_is_set_is_never_lowered(server_urls, tmp_path):
    """A sequence set with is_called false (`setval(s, 500, false)`, `RESTART WITH 500`, a
    hand-made dump) has handed out up to 499, not none: neither the start's check nor the
    move reads it as 0, and the move does not bring the next id down to 301."""
    async with _stores_naming(server_urls, tmp_path, 300) as (environ, _, db):
        await db.execute("SELECT setval(pg_get_serial_sequence('users', 'id'), 500, false)")
        said = await asyncio.to_thread(_admin, environ, "--move")
        assert "PostgreSQL's users identity is at 499." in said, said
        assert "The identity is past them." in said and "Moved" not in said, said
        assert await db.fetchval("SELECT nextval(pg_get_serial_sequence('users', 'id'))") \
            == 500
