"""A group's Idempotency-Key against the real MongoDB-wire server: twins and a replay, whose
inserts meet the key, leave the one group stored and no conversation state behind (each
attempt stores a state before its conversation: chat_store.py `create_conversation`)."""

from __future__ import annotations

import asyncio

from nirvana.domain.idempotency import IdempotencyKey
from nirvana.storage.mongo.codec import creation_key
from tests.support.people import a_with_two_friends


async def test_keyed_twins_and_a_replay_leave_one_group_and_one_state(client, services,
                                                                      settings):
    a, b, c = await a_with_two_friends(client, services)
    key = IdempotencyKey("twins", "fingerprint")
    chat = services.chat
    answers = await asyncio.gather(*(chat.create_group_once(a, "g", [b, c], None, None, key)
                                     for _ in range(6)))
    replay = await chat.create_group_once(a, "g", [b, c], None, None, key)
    assert len({g.id for g, _ in answers + [replay]}) == 1
    assert [created for _, created in answers + [replay]].count(True) == 1
    db = services.mongo[settings.mongodb_db]
    assert await db["chat_conversations"].count_documents(
        {"idempotency_key": creation_key(a, key)}) == 1
    conversations = {d["_id"] async for d in db["chat_conversations"].find({}, {"_id": 1})}
    states = {d["_id"] async for d in db["chat_conversation_state"].find({}, {"_id": 1})}
    assert states == conversations  # no state for a conversation that was not stored
