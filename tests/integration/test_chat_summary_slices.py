"""The spread summary flush against the real MongoDB-wire server: slices within the
interval, reads meanwhile, a crash between slices, the flush a change needs, a failed one,
and a read that a slice's commit overtakes. The ticks are driven by hand on a clock the
test moves (`Summaries.flush_due`), so no assertion rests on the machine's speed."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.bootstrap import build_services
from tests.support.chat_collections import SteeredCollections, SummaryClock
from tests.support.http import sign_up
from tests.support.people import befriend

INTERVAL = 3600.0  # the background flush's own tick never comes during a test
SLICES = 4
TICK = INTERVAL / SLICES


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


def spread_store(flaky, **options):
    """A chat on its own store whose summary flush reads `clock`: (chat, store, clock)."""
    clock = SummaryClock()
    chat, store, _ = flaky(summary_interval=INTERVAL, summary_slices=SLICES,
                           summary_clock=clock, **options)
    return chat, store, clock


async def held_read(store, steer, user_id: int) -> asyncio.Task:
    """`conversations_of` started and held: it took the unwritten summaries and its read of
    the states answered; its read of the conversations waits for `steer.release`."""
    steer.hold = True
    reading = asyncio.create_task(store.conversations_of(user_id, 100))
    async with asyncio.timeout(10):
        await steer.states_read.wait()
    steer.hold = False
    return reading


async def test_a_spread_flush_writes_a_slice_per_tick_each_within_its_interval(
        client, services, flaky):
    a, chats = await a_chatting_with(client, services, 8)
    chat, store, clock = spread_store(flaky)
    dirty_at = clock.now
    for n, c in enumerate(chats):
        await chat.send_message(a, c.id, client_id=f"k{n}", text=f"to {n}")
    sizes = []
    for k in range(1, SLICES + 1):
        clock.now = dirty_at + k * TICK
        before = len(await written(services, [(c, 1) for c in chats]))
        await store.summaries.flush_due()
        sizes.append(len(await written(services, [(c, 1) for c in chats])) - before)
        # Meanwhile a read sees every summary, written or still buffered.
        listed = {c.id: c for c in (await store.conversations_of(a, 100)).items}
        assert all(listed[c.id].last_seq == 1 and listed[c.id].last_message.text == f"to {n}"
                   for n, c in enumerate(chats))
    # Spread evenly (not one commit of them all), and all written one interval after.
    assert sizes == [2] * SLICES and store.summaries.commits == SLICES


async def test_a_crash_between_slices_loses_no_summary(client, services, flaky, stores,
                                                       settings):
    a, chats = await a_chatting_with(client, services, 8)
    chat, store, clock = spread_store(flaky)
    dirty_at = clock.now
    for n, c in enumerate(chats):
        await chat.send_message(a, c.id, client_id=f"k{n}", text=f"to {n}")
    # The two oldest get a newer message too: the first slice's newest position is then
    # past the other conversations' messages, which the checkpoint must not pass.
    for c in chats[:2]:
        await chat.send_message(a, c.id, client_id=f"again {c.id}", text="again")
    expected = [(c, 2 if n < 2 else 1) for n, c in enumerate(chats)]
    clock.now = dirty_at + TICK
    await store.summaries.flush_due()
    await store.writer.close()  # as a kill -9: the other slices are never written
    assert len(await written(services, expected)) == 2

    pool, mongo = stores
    fresh = build_services(settings, pool, mongo, secret="t" * 48)
    listed = {c.id: c for c in (await fresh.chat.conversations(a)).items}
    assert {cid: c.last_seq for cid, c in listed.items()} == {c.id: seq for c, seq in expected}
    assert [listed[c.id].last_message.text for c in chats] == [
        "again", "again", *(f"to {n}" for n in range(2, 8))]
    assert len(await written(services, expected)) == len(chats)  # repaired in the store
    await fresh.chat_store.close()


async def test_a_change_writes_its_conversations_summary_first_and_only_that_one(
        client, services, flaky):
    a, (edited, other) = await a_chatting_with(client, services, 2)
    chat, store, _ = spread_store(flaky)
    await chat.send_message(a, edited.id, client_id="e", text="before")
    await chat.send_message(a, other.id, client_id="o", text="waits")
    assert (await chat.edit_message(a, edited.id, 1, "after")).text == "after"
    assert await written(services, [(edited, 1), (other, 1)]) == {edited.id}
    states = services.mongo[services.settings.mongodb_db]["chat_conversation_state"]
    assert (await states.find_one({"_id": edited.id}))["last_message"]["text"] == "after"
    listed = {c.id: c for c in (await chat.conversations(a)).items}
    assert listed[other.id].last_message.text == "waits"  # from the buffer
    await store.summaries.flush()
    assert (await states.find_one({"_id": edited.id}))["last_message"]["text"] == "after"
    assert await written(services, [(edited, 1), (other, 1)]) == {edited.id, other.id}


async def test_a_failed_change_flush_does_not_hold_back_older_summaries(
        client, services, flaky):
    a, (older, changed) = await a_chatting_with(client, services, 2)
    steer = SteeredCollections()
    chat, store, clock = spread_store(flaky, db=steer)
    start = clock.now
    await chat.send_message(a, older.id, client_id="o", text="older")
    clock.now = start + 0.8 * INTERVAL
    await chat.send_message(a, changed.id, client_id="c", text="changed")
    steer.fail_state_writes = True  # the change's own flush fails: its summary goes back
    with pytest.raises(Exception):
        await chat.edit_message(a, changed.id, 1, "edited")
    steer.fail_state_writes = False
    # At the tick before the older one's interval ends it is due, whatever came after it.
    clock.now = start + 0.92 * INTERVAL
    await store.summaries.flush_due()
    assert await written(services, [(older, 1), (changed, 1)]) == {older.id}


async def test_a_read_overtaken_by_a_slices_commit_still_sees_its_summary(
        client, services, flaky):
    a, (c,) = await a_chatting_with(client, services, 1)
    steer = SteeredCollections()
    chat, store, _ = spread_store(flaky, db=steer)
    await chat.send_message(a, c.id, client_id="k", text="hi")
    reading = await held_read(store, steer, a)
    await store.summaries.flush([c.id])  # a slice lands between the two reads
    steer.release.set()
    (found,) = (await reading).items
    assert found.last_seq == 1 and found.last_message.text == "hi"


async def test_a_read_sees_a_message_summarised_after_a_slice_replaced_the_buffer(
        client, services, flaky):
    a, (c,) = await a_chatting_with(client, services, 1)
    steer = SteeredCollections()
    chat, store, _ = spread_store(flaky, db=steer)
    await chat.send_message(a, c.id, client_id="k1", text="first")
    reading = await held_read(store, steer, a)
    await store.summaries.flush([c.id])  # the buffer the read took is replaced
    await chat.send_message(a, c.id, client_id="k2", text="second")  # into the new one
    steer.release.set()
    (found,) = (await reading).items
    assert found.last_seq == 2 and found.last_message.text == "second"
