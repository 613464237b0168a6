"""The way out of "PostgreSQL is older than the chat store" (docs/deployment.md, "What to do
when a start is refused"): `python -m nirvana.admin user-ids --move` moves PostgreSQL's users
identity past every user id the chat store names, also those of users who left a group, so
the next sign-up cannot inherit a former member's leftovers. Real stores, real server."""

from __future__ import annotations

import asyncio
import contextlib
import io

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
