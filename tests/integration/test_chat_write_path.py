"""The write path against the real MongoDB-wire server: summaries after a crash, history
from memory, membership from memory."""

from __future__ import annotations

from nirvana.bootstrap import build_services
from nirvana.domain.chat import NotMemberError
from nirvana.storage.chat_summaries import CHECKPOINT_ID
from tests.integration.test_mongo_chat import friends


async def test_summaries_lost_in_a_crash_are_repaired_on_the_next_start(
        client, services, stores, settings):
    a, b = await friends(client, services)
    c = await services.chat.open_direct(a, b)
    for i in range(3):
        await services.chat.send_message(b, c.id, client_id=f"k{i}", text=f"m{i}")
    await services.chat_store.close()
    # What a kill -9 between the acks and the summary flush leaves behind.
    db = services.mongo[settings.mongodb_db]
    await db["chat_meta"].update_one({"_id": CHECKPOINT_ID}, {"$set": {"pos": 0}})
    await db["chat_conversations"].update_one(
        {"_id": c.id}, {"$set": {"last_seq": 0, "last_message": None,
                                 "members.$[].read_seq": 0, "members.$[].delivered_seq": 0}})
    pool, mongo = stores
    fresh = build_services(settings, pool, mongo, secret="t" * 48)
    (listed,) = await fresh.chat.conversations(a)
    assert listed.last_seq == 3 and listed.last_message.text == "m2"
    assert listed.unread_for(a) == 3 and listed.unread_for(b) == 0
    await fresh.chat_store.close()


async def test_latest_history_comes_from_memory_and_follows_new_sends(client, services):
    a, b = await friends(client, services)
    chat = services.chat
    c = await chat.open_direct(a, b)
    for i in range(60):
        await chat.send_message(a, c.id, client_id=f"k{i}", text=f"m{i}")
    page = await chat.history(b, c.id, limit=50)  # first read fills memory
    assert [m.seq for m in page] == list(range(11, 61))
    await chat.send_message(b, c.id, client_id="late", text="late")
    held = chat.cache.latest(c.id, 61, 50)
    assert held is not None and held[-1].text == "late"
    assert await chat.history(a, c.id, limit=50) == held
    assert [m.seq for m in await chat.history(a, c.id, before=11, limit=5)] == [6, 7, 8, 9, 10]


async def test_membership_is_checked_on_every_read_from_memory(client, services):
    a, b = await friends(client, services)
    stranger = (await friends(client, services))[0]
    c = await services.chat.open_direct(a, b)
    await services.chat.send_message(a, c.id, client_id="k", text="hi")
    await services.chat.history(a, c.id)  # conversation and page now in memory
    try:
        await services.chat.history(stranger, c.id)
    except NotMemberError:
        pass
    else:
        raise AssertionError("a non-member read a conversation held in memory")
