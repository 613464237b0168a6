"""Receipts queued one after another are committed together (storage/mongo/receipt_commits.py):
in a bounded number of store requests, each answered with its receipt (or None: nothing
rose, or a later mark of the run covers it), their events one document per conversation
at consecutive positions, delivered in position order, a change between two keeping its
place; a failed write refuses the run, whose retries record
no event twice; a big run is answered in chunks, in one delivery pass. And a mark the
cached conversation holds already goes to no writer. Over the real MongoDB-wire store, its
requests counted (tests/support/chat_collections.py)."""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager
from typing import Any

import pytest

from nirvana.domain.chat.entities import ReceiptKind
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import FencedOutError
from nirvana.storage.mongo.sends import ANSWER_CHUNK
from tests.support.chat_collections import SteeredCollections
from tests.support.chat_writers import chat_on, chat_writer
from tests.support.held_writer import writer_held
from tests.support.live_frames import live_frames
from tests.support.receipt_runs import queued_together, receipts_world
from tests.support.stored_receipts import as_marks, stored_receipts
from tests.support.two_in_flight import reached

READ, DELIVERED = ReceiptKind.READ, ReceiptKind.DELIVERED


async def _marks(conversation_id: str) -> dict[str, dict[str, int]]:
    state = await ChatCollections().states.find_one({"_id": conversation_id})
    return state.get("marks", {})


async def test_receipts_queued_together_are_committed_in_three_requests(
        services, chats, writers):
    """Six marks of different members, kinds and conversations: one read of their states,
    one bulk write of their marks, one insert of their events, one document per
    conversation (a bundle, or a plain receipt for a conversation's only one); each
    answered with its receipt, a conversation's at consecutive positions, conversations in
    the order of their first mark; each receipt delivered to a member's socket, in
    position order; every mark stored."""
    db, store, (a, b, c), conv = await receipts_world(services, chats, writers)
    marks = [(conv["b"], b, DELIVERED, 2), (conv["c"], c, DELIVERED, 3),
             (conv["g"], b, DELIVERED, 1), (conv["g"], c, DELIVERED, 2),
             (conv["b"], b, READ, 1), (conv["g"], c, READ, 1)]
    db.receipt_requests.clear()
    async with live_frames(services.hub, a, await store.head()) as frames:
        seen = len(await frames.read())  # what a socket gets first (the online list)
        answers = await queued_together(store, marks,
                                        on_recorded=services.hub.receipt_recorded)
        delivered = [json.loads(t) for t in (await frames.read())[seen:]]
    assert dict(db.receipt_requests) == {"states.find": 1, "states.bulk_write": 1,
                                         "events.insert_many": 1}
    assert [(r.conversation_id, r.user_id, r.kind, r.seq) for r in answers] == [
        (conversation.id, user, kind, seq) for conversation, user, kind, seq in marks]
    by_position = [answers[i] for i in (0, 4, 1, 2, 3, 5)]  # b's, c's, then g's
    p = by_position[0].pos
    assert [r.pos for r in by_position] == list(range(p, p + len(marks)))
    assert await stored_receipts() == by_position
    stored = [d async for d in ChatCollections().events.find().sort("pos", 1)]
    assert [(d["type"], d.get("first"), d["pos"], d["conversation_id"]) for d in stored] == [
        ("receipts", p, p + 1, conv["b"].id), ("receipt", None, p + 2, conv["c"].id),
        ("receipts", p + 3, p + 5, conv["g"].id)]
    assert [(f["type"], f["pos"]) for f in delivered] == [
        ("receipt", pos) for pos in range(p, p + len(marks))]
    assert (await _marks(conv["b"].id))[str(b)] == {"read": 1, "delivered": 2}
    assert (await _marks(conv["c"].id))[str(c)]["delivered"] == 3
    assert (await _marks(conv["g"].id))[str(b)]["delivered"] == 1
    assert (await _marks(conv["g"].id))[str(c)] == {"read": 1, "delivered": 2}
    assert await store.head() == p + len(marks) - 1


async def test_a_members_marks_in_one_run_give_one_event_and_a_stored_mark_none(
        services, chats, writers):
    """b's delivered 2 is stored. Then, in one run: b's delivered 1 (below the stored: None),
    delivered 3 (covered by the read 3 after it: None), read 3 (its receipt), read 3 again
    (None); c's delivered 1 and 2 (one receipt, the highest's)."""
    db, store, (a, b, c), conv = await receipts_world(services, chats, writers)
    assert await store.record_receipt(conv["b"].id, b, DELIVERED, 2,
                                      tuple(conv["b"].member_ids)) is not None
    before = len(await stored_receipts())
    answers = await queued_together(store, [
        (conv["b"], b, DELIVERED, 1), (conv["b"], b, DELIVERED, 3), (conv["b"], b, READ, 3),
        (conv["b"], b, READ, 3), (conv["c"], c, DELIVERED, 1), (conv["c"], c, DELIVERED, 2)])
    assert [None if r is None else (r.user_id, r.kind, r.seq) for r in answers] == [
        None, None, (b, READ, 3), None, None, (c, DELIVERED, 2)]
    assert as_marks((await stored_receipts())[before:]) == [(b, "read", 3), (c, "delivered", 2)]
    assert answers[2].pos < answers[5].pos
    assert (await _marks(conv["b"].id))[str(b)] == {"read": 3, "delivered": 3}
    assert (await _marks(conv["c"].id))[str(c)]["delivered"] == 2


async def test_a_change_between_receipts_keeps_its_place(services, chats, writers):
    """A receipt, a change (taking a position), then two receipts: positions in queue
    order, the two after the change committed together."""
    db, store, (a, b, c), conv = await receipts_world(services, chats, writers)

    async def change(next_pos):
        return next_pos()

    def mark(conversation, user, kind, seq):
        return asyncio.ensure_future(store.record_receipt(
            conversation.id, user, kind, seq, tuple(conversation.member_ids)))
    async with writer_held(store, bound=None):
        queued = [mark(conv["b"], b, DELIVERED, 1),
                  asyncio.ensure_future(store.serialized(change, conversation_id=conv["g"].id)),
                  mark(conv["c"], c, DELIVERED, 1), mark(conv["g"], c, DELIVERED, 1)]
        await asyncio.sleep(0)
        db.receipt_requests.clear()
    async with asyncio.timeout(10):
        first, changed, *after = await asyncio.gather(*queued)
    assert first.pos < changed < after[0].pos < after[1].pos
    assert db.receipt_requests["events.insert_many"] == 1  # the two after the change


@pytest.mark.parametrize("fails", ["before", "after", "events"])
async def test_a_run_whose_write_fails_is_refused_and_its_retries_record_once(
        services, chats, writers, fails):
    """The run's bulk write of marks fails unsent, or lands and its answer is lost, or its
    events land and their insert's answer is lost: every mark of the run is answered
    unavailable, and its retry (the same command) records its receipt if its mark was not
    stored, and nothing if it was: one event per mark at most, never two."""
    db, store, (a, b, c), conv = await receipts_world(services, chats, writers)
    marks = [(conv["b"], b, READ, 2), (conv["c"], c, DELIVERED, 3)]
    db.fail_receipts = fails
    answers = await queued_together(store, marks)
    assert all(isinstance(r, UnavailableError) and r.code == "unavailable" for r in answers)
    db.fail_receipts = None
    retried = [await store.record_receipt(conversation.id, user, kind, seq,
                                          tuple(conversation.member_ids))
               for conversation, user, kind, seq in marks]
    events = as_marks(await stored_receipts())
    # Stored by the retries, or by the run itself; none where only the marks landed.
    assert events == ([] if fails == "after" else [(b, "read", 2), (c, "delivered", 3)])
    if fails == "before":
        assert [(r.user_id, r.seq) for r in retried] == [(b, 2), (c, 3)]
    else:
        assert retried == [None, None]
    assert (await _marks(conv["b"].id))[str(b)] == {"read": 2, "delivered": 2}


async def test_a_read_of_your_own_message_writes_nothing(services, chats, writers):
    """Sending marks the sender's own message read: the client's `read` of it is answered
    from the cached conversation, with nothing queued for the writer."""
    a, b, with_b, _ = chats
    db = SteeredCollections()
    store = await chat_writer(writers, db=db)
    chat = chat_on(store, services, db)
    said, _ = await chat.send_message(a, with_b.id, client_id="said", text="said")
    commits = store.batches
    db.receipt_requests.clear()
    answered = await chat.mark(a, with_b.id, READ, said.seq)
    await chat.mark(a, with_b.id, DELIVERED, said.seq)
    assert answered.member(a).read_seq == said.seq
    assert store.batches == commits
    assert not db.receipt_requests


async def test_a_big_run_is_answered_in_chunks_in_one_delivery_pass(services, chats, writers):
    """Each answer delivers its receipt to every member: a run of more than ANSWER_CHUNK
    marks is answered over several turns of the loop (as a big batch of sends is), all
    inside one delivery pass, so a socket gets its frames of the run in one write."""
    a, b, with_b, with_c = chats
    c = next(m for m in with_c.member_ids if m != a)
    passes: list[str] = []

    @contextmanager
    def delivery_pass():
        passes.append("open")
        yield
        passes.append("closed")
    store = MongoChatStore(delivery_pass=delivery_pass)
    writers.append(store)
    chat = chat_on(store, services)
    for conversation in (with_b, with_c):
        for n in range(3):
            await chat.send_message(a, conversation.id, client_id=f"{conversation.id}-{n}",
                                    text=f"{n}")
    turns = 0

    async def count_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)
    answered: list[tuple[int, int]] = []  # (the turn, how many passes were open then)
    marks = [(with_b, b) if i % 2 else (with_c, c) for i in range(ANSWER_CHUNK + 8)]
    counting = asyncio.ensure_future(count_turns())
    try:
        async with writer_held(store, bound=None):
            for n, (conversation, user) in enumerate(marks):
                asyncio.ensure_future(store.record_receipt(
                    conversation.id, user, DELIVERED, 1 + n % 3,
                    tuple(conversation.member_ids),
                    on_recorded=lambda _: answered.append((turns, passes.count("open")
                                                           - passes.count("closed")))))
            await asyncio.sleep(0)
            passes.clear()
    finally:
        counting.cancel()
    assert len(answered) == len(marks)
    assert len({turn for turn, _ in answered}) > 1
    assert all(open_passes == 1 for _, open_passes in answered)
    assert passes == ["open", "closed"]


async def _chunked_world(services, chats, db: SteeredCollections | None = None,
                         lease: list[bool] | None = None):
    """A writer leading at epoch 1 (while `lease[0]`, if given) over `db`; three messages of
    a's with b and with c; a run of more than ANSWER_CHUNK marks: c's delivered 1, 2 or 3
    (c's only receipt in the first chunk, delivered 3 at index 2; the rest None), then b's
    read 3, alone in the second chunk (its receipt)."""
    a, b, with_b, with_c = chats
    c = next(m for m in with_c.member_ids if m != a)
    store = MongoChatStore(db=db)
    await store.lead(lambda: lease is None or lease[0], 1)
    chat = chat_on(store, services, db)
    for conversation in (with_b, with_c):
        for n in range(3):
            await chat.send_message(a, conversation.id, client_id=f"{conversation.id}-{n}",
                                    text=f"{n}")
    marks = [(with_c, c, DELIVERED, 1 + n % 3) for n in range(ANSWER_CHUNK)]
    return store, marks + [(with_b, b, READ, 3)]


def _queue_run(store: MongoChatStore, marks, on_first_answer) -> list[asyncio.Future]:
    """`marks` queued in one turn (the writer takes them together); `on_first_answer()`
    once the first is answered, inside the first chunk's answers."""
    return [asyncio.ensure_future(store.record_receipt(
        conversation.id, user, kind, seq, tuple(conversation.member_ids),
        on_recorded=(lambda _: on_first_answer()) if n == 0 else None))
        for n, (conversation, user, kind, seq) in enumerate(marks)]


def _first_chunk_answered(answers: list[Any], c: int) -> None:
    first = answers[:ANSWER_CHUNK]
    assert [(r.user_id, r.kind, r.seq) for r in first if r is not None] == [(c, DELIVERED, 3)]
    assert first[2] is not None and first.count(None) == ANSWER_CHUNK - 1


async def test_a_run_taken_over_between_chunks_keeps_the_first_chunks_answers(
        services, chats, writers):
    """The lease lapses while the first chunk is answered, and another writer leads before
    the second chunk's check of the fence reads it: the first chunk's answers stand, the
    second's mark is refused unavailable, its event stays stored (resume replays it), and
    its retry through the writer leading now records nothing."""
    a, b, with_b, with_c = chats
    c = next(m for m in with_c.member_ids if m != a)
    db, lease = SteeredCollections(), [True]
    store, marks = await _chunked_world(services, chats, db, lease)
    writers.append(store)

    def lapse() -> None:
        lease[0] = False
        db.hold_token_read = 1  # the second chunk's `unless_taken_over`
    queued = _queue_run(store, marks, lapse)
    try:
        await reached(db.token_read_held)
        other = MongoChatStore()
        writers.append(other)
        await other.lead(lambda: True, 2)
    finally:
        db.token_read_release.set()
    async with asyncio.timeout(10):
        answers = await asyncio.gather(*queued, return_exceptions=True)
    _first_chunk_answered(answers, c)
    refused = answers[ANSWER_CHUNK]
    assert isinstance(refused, UnavailableError) and refused.code == "unavailable"
    events = as_marks(await stored_receipts())
    assert events == [(c, "delivered", 3), (b, "read", 3)]
    assert await other.record_receipt(with_b.id, b, READ, 3, tuple(with_b.member_ids)) is None
    assert len(await stored_receipts()) == 2


async def test_a_run_closed_between_chunks_still_answers_every_chunk(
        services, chats, writers):
    """The store is closed while the first chunk is answered: the close lets the run the
    writer is in land (landing.py), so the second chunk's mark is answered as recorded too,
    not refused while its mark and event are stored; the first chunk's answers stand."""
    a, b, with_b, with_c = chats
    c = next(m for m in with_c.member_ids if m != a)
    store, marks = await _chunked_world(services, chats)
    writers.append(store)
    closing: list[asyncio.Future] = []
    queued = _queue_run(store, marks, lambda: closing.append(asyncio.ensure_future(store.close())))
    async with asyncio.timeout(10):
        answers = await asyncio.gather(*queued, return_exceptions=True)
        await closing[0]
    _first_chunk_answered(answers, c)
    second = answers[ANSWER_CHUNK]
    assert (second.user_id, second.kind, second.seq) == (b, READ, 3), second


async def test_a_run_whose_events_land_in_part_is_refused_and_stays_leading(
        services, chats, writers):
    """The run's insert of its events lands half of its documents (the first of three: the
    group's two receipts) and fails with a write error that is not the fence's: every mark
    is answered unavailable, the writer still leads, and the retries find their marks
    raised and record nothing (the events that landed go out on a resume, the others never:
    docs/protocol.md, *Receipts*)."""
    db, store, (a, b, c), conv = await receipts_world(services, chats, writers)
    marks = [(conv["g"], b, DELIVERED, 1), (conv["g"], c, DELIVERED, 2),
             (conv["b"], b, READ, 2), (conv["c"], c, DELIVERED, 3)]
    db.fail_receipts = "partial"
    answers = await queued_together(store, marks)
    assert all(isinstance(r, UnavailableError) and r.code == "unavailable"
               and not isinstance(r, FencedOutError) for r in answers)
    assert answers[0] is not answers[1]  # one error each: raised by several callers
    db.fail_receipts = None
    events = as_marks(await stored_receipts())
    assert events == [(b, "delivered", 1), (c, "delivered", 2)]
    for conversation, user, kind, seq in marks:
        assert await store.record_receipt(conversation.id, user, kind, seq,
                                          tuple(conversation.member_ids)) is None
    assert len(await stored_receipts()) == 2
    assert (await _marks(conv["c"].id))[str(c)]["delivered"] == 3
