"""A group's Idempotency-Key against the real MongoDB-wire server: twins and a replay, whose
inserts meet the key, leave the one group stored and no conversation state behind (each
attempt stores a state before its conversation: chat_store.py `create_conversation`); and
a conversation saved through the Beanie model leaves the key out, never null (KEY_INDEX)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from nirvana.domain.idempotency import IdempotencyKey
from nirvana.storage.mongo.codec import creation_key
from nirvana.storage.mongo.documents import ConversationDoc
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


async def test_conversations_saved_through_the_model_leave_the_key_out_not_null(services,
                                                                               settings):
    # Two keyless groups saved through the Beanie model: a null key would be an entry in
    # the unique key index, and the second a duplicate.
    for cid in ("m1", "m2"):
        await ConversationDoc(id=cid, kind="group", direct_key=cid, member_ids=[1],
                              members=[{"user_id": 1, "role": "owner"}], created_by=1,
                              created_at=datetime.now(timezone.utc), name="g").insert()
    keyed = await ConversationDoc.get("m1")
    keyed.idempotency_key, keyed.idempotency_fingerprint = "1:k", "f"
    await keyed.save()
    again = await ConversationDoc.get("m1")
    await again.save()  # loaded and saved: the key stays
    db = services.mongo[settings.mongodb_db]
    stored = {d["_id"]: d async for d in db["chat_conversations"].find(
        {"_id": {"$in": ["m1", "m2"]}})}
    assert stored["m1"]["idempotency_key"] == "1:k"
    assert "idempotency_key" not in stored["m2"]
    assert "idempotency_fingerprint" not in stored["m2"]
