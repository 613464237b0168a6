"""A conversation's state (last message, read marks) kept apart from its members, against
the real MongoDB-wire server: what a new start reads back, and the upgrade of a database
that kept the state inside its conversations."""

from __future__ import annotations

import asyncio

from nirvana.bootstrap import build_services
from nirvana.domain.chat.entities import ReceiptKind
from nirvana.storage.mongo.upgrade import STATES_SPLIT_ID
from tests.support.people import a_with_two_friends, friends


def fresh_services(stores, settings):
    """What the next start builds: nothing held in memory."""
    pool, mongo = stores
    return build_services(settings, pool, mongo, secret="t" * 48)


async def test_receipts_and_added_members_marks_survive_a_restart(client, services, stores,
                                                                   settings):
    a, b, c = await a_with_two_friends(client, services)
    chat = services.chat
    group = await chat.create_group(a, "g", [b])
    for i in range(3):
        await chat.send_message(a, group.id, client_id=f"k{i}", text=f"m{i}")
    await chat.add_members(a, group.id, [c])  # c joins with the three read
    await chat.mark(b, group.id, ReceiptKind.READ, 2)
    await chat.mark(b, group.id, ReceiptKind.READ, 1)  # lower: changes nothing
    await chat.send_message(a, group.id, client_id="k3", text="after c joined")
    await services.chat_store.close()

    fresh = fresh_services(stores, settings)
    got = await fresh.chat.conversation_for(c, group.id)
    assert got.last_seq == 4 and got.last_message.text == "after c joined"
    assert got.unread_for(a) == 0 and got.unread_for(b) == 2 and got.unread_for(c) == 1
    # A mark no higher than the stored one records no receipt, after a restart too.
    await fresh.chat.mark(b, group.id, ReceiptKind.READ, 2)
    assert await fresh.chat_store.head() == (await services.chat_store.head())
    await fresh.chat_store.close()


async def test_a_database_keeping_state_in_its_conversations_is_upgraded_at_start(
        client, services, stores, settings):
    """A database from before the split: its conversations carry last_seq, last_message,
    last_activity and each member's marks. The next start moves them; nothing is lost, and
    no copy of the last message is left behind in the conversation."""
    a, b, c = await a_with_two_friends(client, services)
    chat, store = services.chat, services.chat_store
    older = await chat.open_direct(a, c)
    await chat.send_message(c, older.id, client_id="o", text="older")
    newer = await chat.open_direct(a, b)
    for i in range(3):
        await chat.send_message(b, newer.id, client_id=f"k{i}", text=f"m{i}")
    await chat.mark(a, newer.id, ReceiptKind.READ, 1)
    await store.close()  # summaries written
    db = services.mongo[settings.mongodb_db]
    async for state in db["chat_conversation_state"].find({}):  # back to the old layout
        members = (await db["chat_conversations"].find_one({"_id": state["_id"]}))["members"]
        marks = state["marks"]
        await db["chat_conversations"].update_one({"_id": state["_id"]}, {"$set": {
            "last_seq": state["last_seq"], "last_message": state["last_message"],
            "last_activity": state["last_activity"],
            "members": [{**m, "read_seq": marks[str(m["user_id"])]["read"],
                         "delivered_seq": marks[str(m["user_id"])]["delivered"]}
                        for m in members]}})
    await db["chat_conversation_state"].delete_many({})
    await db["chat_meta"].delete_one({"_id": STATES_SPLIT_ID})

    fresh = fresh_services(stores, settings)
    listed = (await fresh.chat.conversations(a)).items
    assert [x.id for x in listed] == [newer.id, older.id]
    assert listed[0].last_message.text == "m2" and listed[0].unread_for(a) == 2
    assert listed[1].last_message.text == "older" and listed[1].unread_for(a) == 1
    sent, _ = await fresh.chat.send_message(b, newer.id, client_id="k3", text="m3")
    assert sent.seq == 4
    stored = await db["chat_conversations"].find_one({"_id": newer.id})
    assert "last_message" not in stored and "last_seq" not in stored
    await fresh.chat_store.close()


async def test_a_raced_direct_open_leaves_one_conversation_and_one_state(client, services,
                                                                         settings):
    a, b = await friends(client, services)
    opened = await asyncio.gather(*(services.chat.open_direct(a, b) for _ in range(5)),
                                  *(services.chat.open_direct(b, a) for _ in range(5)))
    assert len({c.id for c in opened}) == 1
    db = services.mongo[settings.mongodb_db]
    assert await db["chat_conversation_state"].count_documents({}) == 1
