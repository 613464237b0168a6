"""A batch a chat writer stored, settled once its lease lapsed and before it leads again
(storage/mongo/tenures.py `TenureFence.unless_taken_over`): answered and delivered while
the store's fence still stands at the epoch it was taken under, answered `unavailable`
once another writer raised it, or when the store cannot say. The writer is paused past
its lease by holding the insert of a batch before it (tests/support/two_in_flight.py).
The erasure that makes this matter: test_chat_writer_tenures.py. Over the real
MongoDB-wire store."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.chat.entities import Message
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import WriterFence
from nirvana.storage.mongo.sends import ANSWER_CHUNK
from tests.support.chat_collections import SteeredCollections
from tests.support.chat_writers import draft, failing_collmod, queue
from tests.support.erasure_steps import copies_of
from tests.support.two_in_flight import reached, two_in_flight


@pytest.mark.parametrize("fenced", [True, False], ids=["fenced", "cannot-fence"])
async def test_a_batch_settled_after_the_lease_lapsed_with_nobody_leading_is_answered(
        services, chats, writers, fenced):
    """Nobody takes over: the store's fence still stands at this writer's epoch, so both
    batches, stored, are acked and "mine" is delivered, as ever. Also where the store
    refuses collMod (its inserts unstamped): its raise still wrote the fence's token."""
    delivered: list[Message] = []
    flight = await two_in_flight(chats, writers, on_stored=delivered.append,
                                 fence=None if fenced else WriterFence(failing_collmod(13)))
    flight.lease_valid = False
    flight.paused.release.set()
    assert flight.held is not None and flight.mine is not None
    async with asyncio.timeout(5):
        held, held_created = await flight.held
        mine, mine_created = await flight.mine
    assert held_created and mine_created
    assert delivered == [mine]
    assert await copies_of("mine") == 1


async def test_a_deposed_writer_that_cannot_read_the_fence_answers_nothing(
        services, chats, writers):
    """The lease lapsed and the read of the store's fence fails: whether another writer
    led is unknown, so the stored batches are answered unavailable, delivered to nobody.
    A retry, once this writer leads again, finds its message stored: answered as a
    duplicate, delivered to nobody either."""
    a, b, with_b, with_c = chats
    db = SteeredCollections()
    delivered: list[Message] = []
    flight = await two_in_flight(chats, writers, on_stored=delivered.append, db=db)
    db.fail_token_reads = True
    flight.lease_valid = False
    flight.paused.release.set()
    for refused in (flight.held, flight.mine):
        with pytest.raises(UnavailableError):
            async with asyncio.timeout(5):
                await refused
    assert delivered == []
    db.fail_token_reads = False
    await flight.store.lead(lambda: True, 2)
    again, created = await queue(flight.store, draft(with_b, b, "mine"),
                                 on_stored=delivered.append)
    assert not created and again.text == "mine"
    assert delivered == []
    assert await ChatCollections().messages.count_documents({"client_id": "mine"}) == 1


async def test_a_batch_taken_over_between_its_answer_chunks_answers_no_more(
        services, chats, writers):
    """b's batch of ANSWER_CHUNK + 1 messages, stored; the lease lapses with nobody
    leading, so the fence, read before its first chunk, is still this writer's, and that
    chunk is answered. Another writer leads before the read of the second (the token's
    third read: "held" and the first chunk read it before): its message is answered
    unavailable and delivered to nobody here."""
    db = SteeredCollections()
    delivered: list[Message] = []
    flight = await two_in_flight(chats, writers, on_stored=delivered.append, db=db,
                                 more=ANSWER_CHUNK)
    db.hold_token_read = 3
    flight.lease_valid = False
    other = MongoChatStore()
    writers.append(other)
    try:
        flight.paused.release.set()
        await reached(db.token_read_held)
        await other.lead(lambda: True, 2)
    finally:
        db.token_read_release.set()
    *answered, last = [flight.mine, *flight.more]
    async with asyncio.timeout(5):
        await asyncio.gather(flight.held, *answered)
        with pytest.raises(UnavailableError):
            await last
    assert [m.client_id for m in delivered] == [
        "mine", *(f"mine-{n}" for n in range(1, ANSWER_CHUNK))]


@pytest.mark.parametrize("step", ["read", "take-back"])
async def test_a_batch_taken_over_while_it_is_sorted_out_answers_nothing(
        services, chats, writers, step):
    """b's batch holds a retry of "mine", stored before: its insert fails on the `_id`, so
    the batch is sorted out (sends.py `_sort_out`), its other messages of that
    conversation ("mine-1", with "take-back") taken back. The lease lapses while the
    sort-out's look-up (or take-back) is held, and another writer leads; once it is
    answered, the fence is another's, so nothing is answered or delivered here: not the
    retry's duplicate, nor a's "fresh" to c, stored in the same batch. The take-back is
    held before it is sent, where the store refuses collMod: a fenced one runs in a
    transaction that checks the token, which the other writer's raise would wait on."""
    a, b, with_b, with_c = chats
    db = SteeredCollections()
    store = MongoChatStore(db=db, fence=WriterFence(failing_collmod(13))
                           if step == "take-back" else None)
    writers.append(store)
    lease_valid = True
    await store.lead(lambda: lease_valid, 1)
    await queue(store, draft(with_b, b, "mine"))
    delivered: list[Message] = []
    db.hold_sort_out = step
    batch = [queue(store, draft(with_b, b, "mine"), on_stored=delivered.append)]
    if step == "take-back":
        batch.append(queue(store, draft(with_b, b, "mine-1"), on_stored=delivered.append))
    batch.append(queue(store, draft(with_c, a, "fresh"), on_stored=delivered.append))
    other = MongoChatStore()
    writers.append(other)
    try:
        await reached(db.sort_out_held)
        lease_valid = False
        await other.lead(lambda: True, 2)
    finally:
        db.sort_out_release.set()
    for refused in batch:
        with pytest.raises(UnavailableError):
            async with asyncio.timeout(5):
                await refused
    assert delivered == []


async def test_a_batch_whose_writer_leads_again_during_its_fence_read_answers_nothing(
        services, chats, writers):
    """The lease lapses with nobody leading; "held"'s settle reads the fence's token, at
    this writer's epoch still, but the answer comes only after this writer led again
    (`read_then_hold`). Stored under the earlier tenure, "held" is answered unavailable,
    not under the new one (tenures.py `unless_taken_over` checks the tenure again after
    its read)."""
    db = SteeredCollections()
    flight = await two_in_flight(chats, writers, db=db)
    db.hold_token_read, db.read_then_hold = 1, True
    flight.lease_valid = False
    try:
        flight.paused.release.set()
        await reached(db.token_read_held)
        await flight.store.lead(lambda: True, 3)
    finally:
        db.token_read_release.set()
    for refused in (flight.held, flight.mine):
        with pytest.raises(UnavailableError):
            async with asyncio.timeout(5):
                await refused
