"""A chat writer's summaries across its tenures (storage/mongo/tenures.py, summaries.py): a
batch settled after its process followed another writer, a send taken while a lead waits
for a slow flush, a batch taken after its writer followed, and a leader's read whose
recovery a `forget` overtook. Over the real MongoDB-wire store and PostgreSQL; the writer
is paused as in test_chat_writer_tenures.py."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.chat.entities import Message
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from tests.support.chat_collections import SteeredCollections, SummaryClock
from tests.support.chat_reads import CountingCollections
from tests.support.chat_writers import (PausedInsert, WatchedTurns, chat_writer, draft, queue,
                                        send)
from tests.support.two_in_flight import reached, reached_or_released, two_in_flight


@pytest.mark.parametrize("follows", [True, False], ids=["followed", "lease-came-back"])
async def test_a_batch_settled_after_its_writer_followed_is_not_summarised_there(
        services, chats, writers, follows):
    """Two batches in flight: b's "mine" is stored and waits for a's "held", whose insert
    is held. The process follows another writer (its summaries forgotten) that took the
    lease and has not raised the store's fence yet; then both, stored, are answered, as a
    writer merely deposed does while the fence is still its own. The summary of "mine"
    does not go into the buffer `follow` emptied, which this process's reads would apply
    (erased text, had the other writer erased b since); the other writer's `recover`
    summarises it from the store. A lease that only lapsed and came back forgot nothing:
    "mine" is summarised as ever."""
    a, b, with_b, with_c = chats
    flight = await two_in_flight(chats, writers)
    store, paused, held, mine = flight.store, flight.paused, flight.held, flight.mine
    try:
        flight.lease_valid = False
        if follows:
            other = MongoChatStore()
            writers.append(other)
            await store.follow(other.head)
        else:
            flight.lease_valid = True
    finally:
        paused.release.set()
    await held
    stored, _ = await mine
    buffered = [buffer.last.get(with_b.id) for buffer in store.summaries.unwritten()]
    seen = await store.get_conversation(with_b.id)
    if follows:
        assert buffered == [None]
        assert seen is not None and seen.last_seq < stored.seq
    else:
        assert stored in buffered
        assert seen is not None and seen.last_message == stored


async def flushing_slowly(chats, writers
                          ) -> tuple[MongoChatStore, SteeredCollections, Message]:
    """A writer leading at epoch 1 whose background flush of a's "first" is held in its
    write, holding the summaries' lock, and deaf to a cancel until released."""
    a, _, with_b, _ = chats
    db = SteeredCollections()
    clock = SummaryClock()
    store = MongoChatStore(db=db, summary_clock=clock)
    writers.append(store)
    await store.lead(lambda: True, 1)
    first = await send(store, with_b, a, "first")  # the flusher starts; nothing due yet
    db.hold_state_writes = db.deaf_to_cancel = True
    clock.now += store.summaries.interval  # "first" is due at the flusher's next tick
    await reached_or_released(db.write_started, db.write_release)
    return store, db, first


async def test_a_send_taken_while_a_lead_waits_for_a_slow_flush_is_summarised(
        services, chats, writers):
    """A lead forgets the summaries while the background flush, holding their lock, is slow
    to end its cancel (pymongo inside a transaction). The writer's new tenure began just
    before: a send it takes meanwhile is summarised in the new buffer (it recovers first),
    not put in the one being dropped nor skipped as of an earlier generation (its message
    past the checkpoint would be missing from the conversation list until the next
    `forget`)."""
    _, b, _, with_c = chats
    store, db, _ = await flushing_slowly(chats, writers)
    try:
        leading_again = asyncio.ensure_future(store.lead(lambda: True, 2))
        await reached(db.write_cancelled)  # the lead is in `forget`, stopping the flusher
        batches = store.batches
        second = asyncio.ensure_future(send(store, with_c, b, "second"))
        async with asyncio.timeout(5):
            while store.batches == batches:  # taken (the writer signals nothing sooner)
                await asyncio.sleep(0)
    finally:
        db.hold_state_writes = False
        db.write_release.set()
    async with asyncio.timeout(5):
        await leading_again
        stored = await second
    assert stored in [buffer.last.get(with_c.id) for buffer in store.summaries.unwritten()]


async def test_a_batch_taken_after_its_writer_followed_recovers_no_summaries(
        services, chats, writers):
    """The writer follows another with a send still queued (of its tenure): the batch that
    takes it is refused before it recovers, or the stored messages past the checkpoint
    ("first") would fill the buffer `follow` emptied, which this process's reads apply
    (erased text, had the other writer erased a since)."""
    a, _, with_b, with_c = chats
    paused = PausedInsert()
    store = MongoChatStore(insert=paused)
    writers.append(store)
    await store.lead(lambda: True, 1)
    first = await send(store, with_b, a, "first")  # buffered, past the checkpoint
    paused.armed = True
    held = queue(store, draft(with_c, a, "held"))
    try:
        await reached(paused.reached)
        queued = queue(store, draft(with_b, a, "queued"))
        other = MongoChatStore()
        writers.append(other)
        await other.lead(lambda: True, 2)
        await store.follow(other.head)
    finally:
        paused.release.set()
    for refused in (held, queued):
        with pytest.raises(UnavailableError):
            await refused
    assert not any(store.summaries.unwritten())
    seen = await store.get_conversation(with_b.id)
    assert seen is not None and seen.last_seq < first.seq


@pytest.mark.parametrize("follows", [True, False], ids=["followed", "led-again"])
async def test_a_read_whose_recovery_a_forget_overtook(services, chats, writers, follows):
    """A read after a lead recovers the summaries, waiting for their lock (a flush slow to
    end holds it, its write of "first" refused); meanwhile the process forgets them again.
    Followed another writer: what that recover reads ("first", past the checkpoint) does
    not go into the buffer `follow` emptied, which this process's reads apply. Led again:
    the read recovers again before it reads, or it served the stored summary, without
    "first"."""
    _, _, with_b, _ = chats
    store, db, first = await flushing_slowly(chats, writers)
    try:
        leading_again = asyncio.ensure_future(store.lead(lambda: True, 2))
        await reached(db.write_cancelled)  # its `forget` done but for the flusher's end
        if follows:
            other = MongoChatStore()
            writers.append(other)
            await other.lead(lambda: True, 3)
        db.write_cancelled.clear()
        # Tasks start in order: the read waits for the lock before the next forget.
        read = asyncio.ensure_future(store.get_conversation(with_b.id))
        forgetting = asyncio.ensure_future(
            store.follow(other.head) if follows else store.lead(lambda: True, 3))
        await reached(db.write_cancelled)
    finally:
        db.hold_state_writes = False
        db.write_release.set()
    async with asyncio.timeout(5):
        await asyncio.gather(leading_again, forgetting)
        seen = await read
    if follows:
        assert not any(store.summaries.unwritten())
        seen = await store.get_conversation(with_b.id)
        assert seen is not None and seen.last_seq < first.seq
    else:
        assert seen is not None and seen.last_seq == first.seq
        assert seen.last_message is not None and seen.last_message.id == first.id


async def test_a_recovery_a_forget_overtook_while_it_waited_for_the_fences_turns(
        services, chats, writers):
    """A lead's recovery waits for a write holding the fence's turn (an earlier tenure's,
    here the test's own hold of the turn); the process follows another writer meanwhile.
    Once the turn is free the recovery reads and writes nothing, a follower's: not even
    the upgrade's read of where seq order holds, before its own writes."""
    db = CountingCollections()
    store = await chat_writer(writers, db=db)
    store.fence._one_at_a_time = turns = WatchedTurns()
    await turns.acquire()
    try:
        await store.lead(lambda: True, 1)
        recovering = asyncio.create_task(store.summaries.recover())
        await reached(turns.queued)
        other = MongoChatStore()
        writers.append(other)
        await other.lead(lambda: True, 2)
        await store.follow(other.head)
        db.seq_order_reads = 0
    finally:
        turns.release()
    async with asyncio.timeout(5):
        await recovering
    assert db.seq_order_reads == 0
