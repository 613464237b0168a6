"""`python -m nirvana.admin user-ids` reads the highest user id of a chat store of any size:
on the embedded store, which materialises what each request matches, every request stays
bounded (here the store refuses more than 20 documents in any aggregation stage), and every
field that names a user counts, event data included. A real embedded MongoDB-wire store."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient

from nirvana.storage.embedded import EmbeddedMongo
from nirvana.storage.mongo.deployment import USER_ID_FIELDS, highest_user_id

# A document fragment for each field of USER_ID_FIELDS, naming `v` there only, in the shape
# the chat store writes it (documents.py).
HOLDERS = {
    "member_ids": lambda v: {"member_ids": [1, v]},
    "members.user_id": lambda v: {"members": [{"user_id": 1}, {"user_id": v}]},
    "created_by": lambda v: {"created_by": v},
    "sender_id": lambda v: {"sender_id": v},
    "audience": lambda v: {"audience": [1, v]},
    "hidden_for": lambda v: {"hidden_for": [v]},
    "reactions.user_id": lambda v: {"reactions": [{"emoji": "+1", "user_id": v}]},
    "user_id": lambda v: {"user_id": v},
    "receipts.user_id": lambda v: {"receipts": [{"user_id": 1}, {"user_id": v}]},
    "data.user_ids": lambda v: {"data": {"user_ids": [2, v]}},
    "data.user_id": lambda v: {"data": {"user_id": v}},
    "data.changes.user_id": lambda v: {"data": {"changes": [{"user_id": v, "role": "owner"}]}},
    "message.sender_id": lambda v: {"message": {"sender_id": v}},
    "message.hidden_for": lambda v: {"message": {"hidden_for": [v]}},
    "message.reactions.user_id": lambda v: {"message": {"reactions": [{"user_id": v}]}},
    "marks": lambda v: {"marks": {"1": {"read": 3}, str(v): {"read": 1}}},
}


async def test_the_highest_user_id_is_read_in_bounded_pages(tmp_path, monkeypatch):
    monkeypatch.setenv("SECANTUS_MAX_PIPELINE_DOCS", "20")  # the server inherits it
    mongo = EmbeddedMongo(tmp_path / "mongo")
    client: AsyncMongoClient = AsyncMongoClient(await asyncio.to_thread(mongo.start),
                                                serverSelectionTimeoutMS=30_000)
    try:
        chat = client["nirvana"]
        # 30 messages of 3 readers each, the highest reader in the last: three full pages
        # of 10 and an empty one, more than a stage may hold.
        await chat["chat_messages"].insert_many(
            [{"_id": f"m{n:03}", "sender_id": 1, "audience": [1, 2, 100 + n],
              "hidden_for": [], "reactions": [{"emoji": "+1", "user_id": 2}]}
             for n in range(30)])
        await chat["chat_conversation_state"].insert_one(
            {"_id": "c1", "marks": {"1": {"read": 3}, "50": {"read": 1}}})
        assert await highest_user_id(chat, page=10) == 129
        # Every collection past one page; then each field in turn holds a maximum no other
        # field holds, in its collection's last document: a field not read, or a loop that
        # stops early, misses it.
        fillers = {"chat_conversations": {"member_ids": [1, 2], "created_by": 1},
                   "chat_conversation_state": {"marks": {"2": {"read": 1}}},
                   "chat_events": {"type": "receipt", "user_id": 1, "audience": [1, 2]}}
        for name, filler in fillers.items():
            await chat[name].insert_many(
                [{**({} if name == "chat_events" else {"_id": f"f{n:03}"}), **filler}
                 for n in range(25)])
        fields = [(name, field) for name, held in USER_ID_FIELDS.items() for field in held]
        assert {f for _, f in fields} == set(HOLDERS)
        for n, (name, field) in enumerate(fields):
            highest = 1000 + n
            document: dict[str, Any] = HOLDERS[field](highest)
            if name != "chat_events":  # driver ObjectIds, later than the fillers'
                document["_id"] = f"z{n:03}"
            await chat[name].insert_one(document)
            assert await highest_user_id(chat, page=10) == highest, field
    finally:
        await client.close()
        await asyncio.to_thread(mongo.stop)
