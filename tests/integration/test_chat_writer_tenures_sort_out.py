"""A batch's sort-out across a lead (storage/mongo/tenures.py, sends.py `_sort_out`): a
retry's look-up of its stored copy, or the take-back of its conversation's other messages,
answered after the writer led again, and the sends it queued again before the lead, are
the earlier tenure's: refused `unavailable`, never answered, stored, delivered or
summarised under the later one; a take-back still running then ends before the later
tenure's recovery reads. The writer's reads, deletes and fence checks are held in the store
(tests/support/steered_messages.py, chat_collections.py). Over the real MongoDB-wire store
and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.chat.entities import Message
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import WriterFence
from tests.support.chat_collections import SteeredCollections
from tests.support.chat_writers import (WatchedTurns, chat_writer, draft, failing_collmod,
                                        fence_without_transactions, queue, send)
from tests.support.erasure_steps import copies_of
from tests.support.steered_messages import SteeredMessages
from tests.support.two_in_flight import reached


@pytest.mark.parametrize("lead_during", ["look-up", "look-up-one-to-take-back", "take-back"])
async def test_a_retrys_look_up_answered_after_a_re_lead_is_not_acted_on(
        services, chats, writers, lead_during):
    """A retry of a's stored "kept" fails its insert on the `_id`; the writer leads again
    before the batch is sorted out: while the look-up of the stored message is answered,
    or while the take-back of "other" (stored in the same batch, taken back as its
    conversation's run has a gap) is. What was found is the earlier tenure's: the retry is
    refused, not answered as a duplicate under the later tenure. Led during the look-up,
    the later tenure does not record "other" as withdrawn: its retry then finds it stored
    where it is, not taken back and numbered again. Led during the take-back (a store
    without transactions: a fenced one's delete would hold the token the lead waits for),
    "other" is gone, and its retry is stored once."""
    a, b, with_b, _ = chats
    db = SteeredMessages()
    take_back = lead_during == "take-back"
    store = await chat_writer(
        writers, db=db, fence=fence_without_transactions() if take_back else None)
    await send(store, with_b, a, "kept")
    db.hold_deletes, db.hold_id_reads = take_back, not take_back
    retry = queue(store, draft(with_b, a, "kept"))
    other = queue(store, draft(with_b, a, "other")) if lead_during != "look-up" else None
    try:
        await reached(db.delete_ran if take_back else db.id_read)
        await store.lead(lambda: True, 3)
    finally:
        db.hold_deletes = db.hold_id_reads = False
        db.delete_release.set()
        db.id_release.set()
    with pytest.raises(UnavailableError):
        await retry
    if other is None:
        return
    with pytest.raises(UnavailableError):
        await other
    stored = await ChatCollections().messages.find_one({"client_id": "other"})
    again, created = await queue(store, draft(with_b, a, "other"))
    if take_back:
        assert stored is None and created
        assert await copies_of("other") == 1
    else:
        assert not created and (again.seq, again.pos) == (stored["seq"], stored["pos"])


async def test_sends_a_sort_out_queued_again_before_a_re_lead_are_refused_when_taken(
        services, chats, writers):
    """A batch of a's retry of "kept" (stored before) and "other", to b: the retry fails its
    insert on the `_id`, so the batch is sorted out: the retry answered as the stored
    message, "other" taken back (its seq follows a gap) and queued again. The writer leads
    again before it takes "other" (busy numbering another batch, to c, whose seq read is
    held): "other" was queued under the earlier tenure, and is refused, never stored,
    delivered or summarised under the later one; its retry is stored once."""
    a, b, with_b, with_c = chats
    db = SteeredMessages()
    store = MongoChatStore(db=db, max_inflight=2)
    writers.append(store)
    await store.lead(lambda: True, 1)
    kept = await send(store, with_b, a, "kept")
    delivered: list[Message] = []
    db.hold_id_reads = True
    retry = queue(store, draft(with_b, a, "kept"), on_stored=delivered.append)
    other = queue(store, draft(with_b, a, "other"), on_stored=delivered.append)
    try:
        await reached(db.id_read)  # the batch is sorting out, in a task of its own
        db.hold_seq_reads = True
        to_c = queue(store, draft(with_c, a, "to c"))
        await reached(db.seq_read)  # the writer numbers "to c"
        db.hold_id_reads = False
        db.id_release.set()
        async with asyncio.timeout(5):
            again, created = await retry  # sorted out: "other" is queued again
        assert not created and again.pos == kept.pos
        assert not other.done()  # queued again, not refused by the sort-out itself
        await store.lead(lambda: True, 3)
    finally:
        db.hold_id_reads = db.hold_seq_reads = False
        db.id_release.set()
        db.seq_release.set()
    for refused in (other, to_c):
        with pytest.raises(UnavailableError):
            await refused
    assert delivered == []
    assert await copies_of("other") == 0
    buffered = [buffer.last.get(with_b.id) for buffer in store.summaries.unwritten()]
    assert all(m is None or m.client_id != "other" for m in buffered)
    stored = await send(store, with_b, a, "other")  # the client's retry
    assert stored.seq == kept.seq + 1
    assert await copies_of("other") == 1


async def test_a_take_back_checked_across_a_re_lead_at_the_same_epoch_lands_before_recovery(
        services, chats, writers):
    """A batch of a's retry of "kept" (stored, summarised) and "other": the retry fails on
    its `_id`, so "other" (seq 3) is taken back. The take-back holds the fence's turn, its
    check of the token not yet run, while the writer leads again at the epoch it held (the
    lease gives its holder back its epoch), so the check will pass. The later tenure's
    recovery waits for it: it never summarises "other" that the take-back then deletes,
    and the conversation's last message is one in history. Both sends are the earlier
    tenure's, refused; the next seqs follow "kept"."""
    a, _, with_b, _ = chats
    db = SteeredCollections()
    store = await chat_writer(writers, db=db)  # epoch 1
    kept = await send(store, with_b, a, "kept")
    await store.summaries.flush()
    store.fence._one_at_a_time = turns = WatchedTurns()
    db.hold_check = True
    retry = queue(store, draft(with_b, a, "kept"))
    other = queue(store, draft(with_b, a, "other"))
    try:
        await reached(db.check_held)  # the take-back of "other" holds the fence's turn
        await store.lead(lambda: True, 1)
        recovering = asyncio.create_task(store.summaries.recover())
        await reached(turns.queued)  # recovery (or its flush) waits for the take-back
    finally:
        db.check_release.set()
    await _recovered_kept_as_last(store, recovering, (retry, other), chats, kept)
    again, created = await queue(store, draft(with_b, a, "other"))  # the client's retry
    assert created and again.seq == kept.seq + 2


@pytest.mark.parametrize("refusal", [13, 115])
async def test_a_take_back_running_across_a_re_lead_where_nothing_fences_lands_before_recovery(
        services, chats, writers, refusal):
    """The same batch where the deployment cannot fence (collMod refused: 13, a user
    without the action; 115, a server without the command): nothing stamps or checks an
    epoch, so the take-back of "other", its delete run and not yet committed, passes any
    lead. The later tenure (here at a higher epoch) recovers only once it has ended: the
    conversation's last message is one in history, and the next seqs follow "kept"."""
    a, _, with_b, _ = chats
    db = SteeredMessages()
    fence = WriterFence(command=failing_collmod(refusal))
    store = await chat_writer(writers, db=db, fence=fence)
    assert store.fence.epoch is None and store.fence.raised == 1
    kept = await send(store, with_b, a, "kept")
    await store.summaries.flush()
    store.fence._one_at_a_time = turns = WatchedTurns()
    db.hold_deletes = True
    retry = queue(store, draft(with_b, a, "kept"))
    other = queue(store, draft(with_b, a, "other"))
    try:
        await reached(db.delete_ran)  # the take-back of "other" ran, not committed
        await store.lead(lambda: True, 2)
        recovering = asyncio.create_task(store.summaries.recover())
        waiting = asyncio.create_task(turns.queued.wait())
        # Recovery waits for the take-back's turn, or (the gap) reads and ends first.
        try:
            async with asyncio.timeout(5):
                await asyncio.wait({recovering, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
    finally:
        db.hold_deletes = False
        db.delete_release.set()
    await _recovered_kept_as_last(store, recovering, (retry, other), chats, kept)


async def _recovered_kept_as_last(store: MongoChatStore, recovering: asyncio.Task,
                                  refused: tuple, chats, kept: Message) -> None:
    """The recovery ends, both sends of the batch are refused, and the summarised last
    message is "kept", one in history: "other" is gone, and the next send follows "kept"."""
    _, b, with_b, _ = chats
    async with asyncio.timeout(5):
        await recovering
    for send_ in refused:
        with pytest.raises(UnavailableError):
            await send_
    await store.summaries.flush()
    messages, states = ChatCollections().messages, ChatCollections().states
    state = await states.find_one({"_id": with_b.id})
    last = await messages.find_one({"conversation_id": with_b.id, "seq": state["last_seq"]})
    assert last is not None and last["client_id"] == state["last_message"]["client_id"]
    assert (state["last_seq"], last["client_id"]) == (kept.seq, "kept")
    assert await copies_of("other") == 0
    assert (await send(store, with_b, b, "next")).seq == kept.seq + 1
