"""The spread summary flush against the real MongoDB-wire server: slices within the
interval, reads meanwhile, a crash between slices, and the flush a change needs."""

from __future__ import annotations

import asyncio
import time

from nirvana.bootstrap import build_services
from tests.support.http import sign_up
from tests.support.people import befriend

INTERVAL = 2.0  # long beside a send on a busy machine
SLICES = 4


async def a_chatting_with(client, services, n: int):
    """User a and its direct conversations with n friends, oldest first."""
    a = (await sign_up(client))["user"]["id"]
    chats = []
    for _ in range(n):
        friend = (await sign_up(client))["user"]["id"]
        await befriend(services, a, friend)
        chats.append(await services.chat.open_direct(a, friend))
    return a, chats


async def written(services, chats) -> set[str]:
    """The conversations whose stored summary has their last message."""
    states = services.mongo[services.settings.mongodb_db]["chat_conversation_state"]
    expected = {c.id: seq for c, seq in chats}
    return {d["_id"] async for d in states.find({"_id": {"$in": list(expected)}})
            if d["last_seq"] == expected[d["_id"]]}


async def test_a_spread_flush_writes_each_summary_within_its_interval_and_reads_see_the_rest(
        client, services):
    a, chats = await a_chatting_with(client, services, 8)
    summaries = services.chat_store.summaries
    summaries.interval, summaries.slices = INTERVAL, SLICES
    commits = summaries.commits
    sent_at = {}
    for n, c in enumerate(chats):
        await services.chat.send_message(a, c.id, client_id=f"k{n}", text=f"to {n}")
        sent_at[c.id] = time.monotonic()
    written_at: dict[str, float] = {}
    while len(written_at) < len(chats) and time.monotonic() - min(sent_at.values()) < 10:
        for cid in await written(services, [(c, 1) for c in chats]):
            written_at.setdefault(cid, time.monotonic())
        # Meanwhile a read sees every summary, written or still buffered.
        listed = {c.id: c for c in await services.chat_store.conversations_of(a, 100)}
        assert all(listed[c.id].last_seq == 1 and listed[c.id].last_message.text == f"to {n}"
                   for n, c in enumerate(chats))
        await asyncio.sleep(0.02)
    assert len(written_at) == len(chats)
    assert all(written_at[cid] - sent_at[cid] < INTERVAL + 1.0 for cid in written_at)
    assert summaries.commits - commits >= SLICES - 1  # spread: not one commit of them all
    assert len(set(round(t, 2) for t in written_at.values())) > 1


async def test_a_crash_between_slices_loses_no_summary(client, services, stores, settings):
    a, chats = await a_chatting_with(client, services, 8)
    store = services.chat_store
    store.summaries.interval, store.summaries.slices = INTERVAL, SLICES
    for n, c in enumerate(chats):
        await services.chat.send_message(a, c.id, client_id=f"k{n}", text=f"to {n}")
    # The two oldest get a newer message too: the first slice's newest position is then
    # past the other conversations' messages, which the checkpoint must not pass.
    for c in chats[:2]:
        await services.chat.send_message(a, c.id, client_id=f"again {c.id}", text="again")
    expected = [(c, 2 if n < 2 else 1) for n, c in enumerate(chats)]
    commits = store.summaries.commits
    async with asyncio.timeout(10):  # the first slice is due 0.5 s after the first send
        while store.summaries.commits == commits:
            await asyncio.sleep(0.01)
    await store.writer.close()  # as a kill -9: the other slices are never written
    assert 0 < len(await written(services, expected)) < len(chats)

    pool, mongo = stores
    fresh = build_services(settings, pool, mongo, secret="t" * 48)
    listed = {c.id: c for c in await fresh.chat.conversations(a)}
    assert {cid: c.last_seq for cid, c in listed.items()} == {c.id: seq for c, seq in expected}
    assert [listed[c.id].last_message.text for c in chats] == [
        "again", "again", *(f"to {n}" for n in range(2, 8))]
    assert len(await written(services, expected)) == len(chats)  # repaired in the store
    await fresh.chat_store.close()


async def test_a_change_writes_its_conversations_summary_first_and_only_that_one(
        client, services):
    a, (edited, other) = await a_chatting_with(client, services, 2)
    chat, store = services.chat, services.chat_store
    store.summaries.interval = 3600  # flushed only where the test says
    await chat.send_message(a, edited.id, client_id="e", text="before")
    await chat.send_message(a, other.id, client_id="o", text="waits")
    assert (await chat.edit_message(a, edited.id, 1, "after")).text == "after"
    assert await written(services, [(edited, 1), (other, 1)]) == {edited.id}
    states = services.mongo[services.settings.mongodb_db]["chat_conversation_state"]
    assert (await states.find_one({"_id": edited.id}))["last_message"]["text"] == "after"
    listed = {c.id: c for c in await chat.conversations(a)}
    assert listed[other.id].last_message.text == "waits"  # from the buffer
    await store.summaries.flush()
    assert (await states.find_one({"_id": edited.id}))["last_message"]["text"] == "after"
    assert await written(services, [(edited, 1), (other, 1)]) == {edited.id, other.id}
