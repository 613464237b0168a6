"""One conversation read by id (`MongoChatStore.member_conversation`) against the real
MongoDB-wire store: what the list gives for it, with the summaries not written yet counted,
also on a process that follows another chat writer; nothing for a non-member."""

from __future__ import annotations

from nirvana.storage.mongo.chat_store import MongoChatStore
from tests.support.chat_collections import SummaryClock
from tests.support.chat_writers import send
from tests.support.people import a_with_two_friends


def listed(page, conversation_id: str):
    return next(c for c in page.items if c.id == conversation_id)


async def test_a_member_reads_it_as_listed_with_its_summary_still_buffered(client, services):
    a, b, c = await a_with_two_friends(client, services)
    chat, store = services.chat, services.chat_store
    store.summaries.interval = 3600  # nothing is flushed during this test
    with_b = await chat.open_direct(a, b)
    await chat.open_direct(a, c)
    await chat.send_message(b, with_b.id, client_id="k1", text="written")
    await store.summaries.flush()
    await chat.send_message(b, with_b.id, client_id="k2", text="buffered")

    found = await store.member_conversation(a, with_b.id)
    assert found is not None and found.last_message.text == "buffered"
    assert found.last_seq == 2 and found.unread_for(a) == 2
    assert found == listed(await store.conversations_of(a, 10), with_b.id)
    assert found == await chat.conversation(a, with_b.id)


async def test_a_non_member_and_an_unknown_id_read_nothing(client, services):
    a, b, c = await a_with_two_friends(client, services)
    with_b = await services.chat.open_direct(a, b)
    store = services.chat_store
    assert await store.member_conversation(c, with_b.id) is None
    assert await store.member_conversation(a, "0" * 32) is None


async def test_a_follower_reads_the_writers_buffered_summary_as_its_list_does(
        client, services, chats, writers):
    """The writer keeps "theirs" summarised in its buffer only; a process that follows it
    reads it from the messages past the checkpoint, as its list does (a read of the
    stored conversation alone would show the older summary)."""
    a, b, with_b, _ = chats
    leader = MongoChatStore(summary_clock=SummaryClock())
    follower = MongoChatStore(summary_clock=SummaryClock())
    writers.extend([leader, follower])
    await leader.lead(lambda: True, 1)
    await follower.follow(leader.head)
    theirs = await send(leader, with_b, b, "theirs")

    found = await follower.member_conversation(a, with_b.id)
    assert found is not None and found.last_message is not None
    assert found.last_message.id == theirs.id and found.unread_for(a) == 1
    assert found == listed(await follower.conversations_of(a, 10), with_b.id)
