"""`python -m nirvana.admin user-ids` reads the highest user id of a chat store of any size:
on the embedded store, which materialises what each request matches, every request stays
bounded (here the store refuses more than 20 documents in any aggregation stage), and every
field that names a user counts, event data included. A real embedded MongoDB-wire store."""

from __future__ import annotations

import asyncio

from pymongo import AsyncMongoClient

from nirvana.storage.embedded import EmbeddedMongo
from nirvana.storage.mongo.deployment import highest_user_id


async def test_the_highest_user_id_is_read_in_bounded_pages(tmp_path, monkeypatch):
    monkeypatch.setenv("SECANTUS_MAX_PIPELINE_DOCS", "20")  # the server inherits it
    mongo = EmbeddedMongo(tmp_path / "mongo")
    client: AsyncMongoClient = AsyncMongoClient(await asyncio.to_thread(mongo.start),
                                                serverSelectionTimeoutMS=30_000)
    try:
        chat = client["nirvana"]
        await chat["chat_conversations"].insert_one(
            {"_id": "c1", "member_ids": [1, 2], "members": [{"user_id": 1}, {"user_id": 2}],
             "created_by": 1})
        # 30 messages of 3 readers each: more than a stage may hold, over three pages.
        await chat["chat_messages"].insert_many(
            [{"_id": f"m{n:03}", "sender_id": 1, "audience": [1, 2, 100 + n],
              "hidden_for": [], "reactions": [{"emoji": "+1", "user_id": 2}]}
             for n in range(30)])
        await chat["chat_conversation_state"].insert_one(
            {"_id": "c1", "marks": {"1": {"read": 3}, "200": {"read": 1}}})
        assert await highest_user_id(chat, page=10) == 200
        # A role change naming a user no other field names (a future event could).
        await chat["chat_events"].insert_one(
            {"pos": 1, "type": "member.role", "user_id": 1, "audience": [1, 2],
             "data": {"changes": [{"user_id": 300, "role": "owner"}]}})
        assert await highest_user_id(chat, page=10) == 300
    finally:
        await client.close()
        await asyncio.to_thread(mongo.stop)
