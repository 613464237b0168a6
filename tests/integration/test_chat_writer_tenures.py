"""Work a chat writer queued, or took, under an earlier tenure, once it leads again
(storage/mongo/tenures.py): answered `unavailable`, never committed under the later tenure,
whatever happened meanwhile under another writer (an account deleted and erased there).
The writer process is paused past its lease by holding its insert
(tests/support/chat_writers.py PausedInsert): what it queued behind that insert waits in
its queue across the takeover and the lead. Over the real MongoDB-wire store and
PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from nirvana.domain.chat.entities import Message, ReceiptKind
from nirvana.domain.errors import AuthenticationError, UnavailableError
from nirvana.storage.cached_users import CachedUserRepository
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import WriterFence
from nirvana.storage.mongo.work_items import Mark, Op
from nirvana.storage.postgres.accounts import PgUserRepository
from tests.support.account_deletion import delete_without_password
from tests.support.chat_collections import SteeredCollections
from tests.support.chat_writers import (PausedInsert, chat_on, chat_writer, draft,
                                        failing_collmod, queue, readers, send)
from tests.support.erasure_steps import copies_of
from tests.support.held_users import HeldUserReads
from tests.support.steered_messages import SteeredMessages
from tests.support.stored_receipts import stored_receipts
from tests.support.two_in_flight import reached, reached_or_released, two_in_flight


async def deleted_elsewhere(services, writers: list[MongoChatStore], b: int
                            ) -> MongoChatStore:
    """Another writer leads (epoch 2), deletes b and erases b's chat text there."""
    other = MongoChatStore()
    writers.append(other)
    await other.lead(lambda: True, 2)
    await delete_without_password(PgUserRepository(services.pool), b, services.clock.now())
    await chat_on(other, services).erase_sender(b)
    return other


def batch_failures(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The writer's warnings of a batch that failed other than by its fence."""
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and "failed" in r.getMessage()]


@dataclass
class PausedWriter:
    """A writer leading at epoch 1 whose insert of a's "held" is held: what is queued after
    it waits in the writer's queue."""

    store: MongoChatStore
    paused: PausedInsert
    held: asyncio.Future[Any] | None = None
    lease_valid: bool = True

    async def leads_again(self) -> None:
        """Its lease lapsed and came back to it (epoch 3, past another writer's 2); then
        its held insert answers, refused by the store's fence (stamped 1)."""
        self.lease_valid = False
        await self.store.lead(lambda: True, 3)
        self.paused.armed = False
        self.paused.release.set()
        assert self.held is not None
        with pytest.raises(UnavailableError):
            await self.held


async def paused_writer(chats, writers) -> PausedWriter:
    a, _, _, with_c = chats
    paused = PausedInsert()
    store = MongoChatStore(insert=paused)
    writers.append(store)
    writer = PausedWriter(store, paused)
    await store.lead(lambda: writer.lease_valid, 1)
    paused.armed = True
    writer.held = queue(store, draft(with_c, a, "held"))
    await reached_or_released(paused.reached, paused.release)
    return writer


async def test_a_send_queued_under_an_earlier_tenure_is_refused_and_its_retry_stored_once(
        services, chats, writers):
    a, b, with_b, with_c = chats
    writer = await paused_writer(chats, writers)
    queued = queue(writer.store, draft(with_b, a, "queued"))
    try:
        await writer.leads_again()
    finally:
        writer.paused.release.set()
    with pytest.raises(UnavailableError) as refused:
        await queued
    assert refused.value.code == "unavailable"
    assert await copies_of("queued") == 0
    retried = await send(writer.store, with_b, a, "queued")  # the client's retry
    again, created = await queue(writer.store, draft(with_b, a, "queued"))
    assert not created and again.pos == retried.pos
    assert await ChatCollections().messages.count_documents({"client_id": "queued"}) == 1


async def test_a_deleted_accounts_send_queued_before_a_takeover_is_not_stored_after_its_erasure(
        services, chats, writers):
    """b's send passed the account check and was queued on the paused writer; another
    writer leads, b is deleted and b's chat text erased there; then the lease comes back.
    b's client retries with the same client_id: checked again, refused unknown_user."""
    a, b, with_b, with_c = chats
    writer = await paused_writer(chats, writers)
    late = queue(writer.store, draft(with_b, b, "late"))
    try:
        other = MongoChatStore()
        writers.append(other)
        await other.lead(lambda: True, 2)
        await send(other, with_b, b, "secret")
        await delete_without_password(PgUserRepository(services.pool), b, services.clock.now())
        await chat_on(other, services).erase_sender(b)
        await writer.leads_again()
    finally:
        writer.paused.release.set()
    with pytest.raises(UnavailableError):
        await late
    assert await copies_of("late") == 0
    assert await copies_of("secret") == 0
    users = CachedUserRepository(PgUserRepository(services.pool))
    with pytest.raises(AuthenticationError) as retried:
        await chat_on(writer.store, services, users=users).send_message(
            b, with_b.id, client_id="late", text="late")
    assert retried.value.code == "unknown_user"
    assert await copies_of("late") == 0


@pytest.mark.parametrize("held", ["first", "second"])
async def test_a_send_whose_account_check_spans_a_re_lead_is_refused(
        services, chats, writers, held):
    """b's send reads b's account from PostgreSQL (a user cache miss) before another writer
    leads, deletes b and erases b's chat text; the read is answered once this process led
    again. Queued then, under the new tenure, it would be stored after the erasure: it is
    refused `unavailable`, as it was admitted under the earlier one (the store's admission,
    taken before the send's checks). Either of the send's two checks, through ChatService:
    the first, whose answer the cache keeps, as this lead does not forget it (production's
    does, and the second check would then read the deletion: the admission must not rest
    on that); or the second, the cache keeping no user (as after a user write during the
    first). a's send checked after the lead is stored, and b's retry is refused."""
    a, b, _, _ = chats
    store = await chat_writer(writers)
    reads = HeldUserReads(PgUserRepository(services.pool))
    users = CachedUserRepository(reads, size=10_000 if held == "first" else 0)
    chat = chat_on(store, services, users=users)
    group = await chat.create_group(a, "g", [b])  # no friendship to lose with b's account
    reads.hold, reads.skip = True, 0 if held == "first" else 1
    late = asyncio.ensure_future(
        chat.send_message(b, group.id, client_id="late", text="late"))
    try:
        await reached(reads.read)  # b exists, as read; the answer is held
        await deleted_elsewhere(services, writers, b)
        await store.lead(lambda: True, 3)
    finally:
        reads.hold = False
        reads.release.set()
    with pytest.raises(UnavailableError) as refused:
        await late
    assert refused.value.code == "unavailable"
    assert await copies_of("late") == 0
    after, created = await chat.send_message(a, group.id, client_id="after", text="after")
    assert created and await copies_of("after") == 1
    users.forget_all()  # as production's lead does
    with pytest.raises(AuthenticationError) as retried:
        await chat.send_message(b, group.id, client_id="late", text="late")
    assert retried.value.code == "unknown_user"
    assert await copies_of("late") == 0


async def test_a_receipt_and_a_change_queued_under_an_earlier_tenure_are_refused(
        services, chats, writers):
    a, b, with_b, with_c = chats
    said, _ = await services.chat.send_message(a, with_b.id, client_id="said", text="said")
    writer = await paused_writer(chats, writers)
    loop = asyncio.get_running_loop()
    mark = Mark(with_b.id, b, ReceiptKind.READ, said.seq, tuple(with_b.member_ids),
                loop.create_future())
    ran: list[int] = []

    async def change(next_pos):
        ran.append(next_pos())
    op = Op(change, loop.create_future(), with_b.id)
    writer.store.writer.enqueue(mark)
    try:
        writer.store.writer.enqueue(op)
        await writer.leads_again()
    finally:
        writer.paused.release.set()
    for item in (mark, op):
        with pytest.raises(UnavailableError):
            await writer.store.writer.wait(item)
    assert not ran
    state = await ChatCollections().states.find_one({"_id": with_b.id})
    assert state.get("marks", {}).get(str(b), {}).get("read", 0) < said.seq, state


async def test_a_change_running_when_the_writer_leads_again_takes_no_position(
        services, chats, writers):
    """The change planned under tenure 1 and asks for a position after the writer led
    again: `next_pos` raises, so it records no event under the new tenure (a change that
    writes in a transaction raises inside it, and nothing of it lands: its transaction
    would pass the fence at the new epoch). This change writes nothing: only the raise and
    its answer are shown."""
    store = MongoChatStore()
    writers.append(store)
    await store.lead(lambda: True, 1)
    planned, resume = asyncio.Event(), asyncio.Event()

    async def change(next_pos):
        planned.set()
        await resume.wait()
        return next_pos()
    op = Op(change, asyncio.get_running_loop().create_future())
    store.writer.enqueue(op)
    try:
        await reached(planned)
        await store.lead(lambda: True, 3)
        await store.head()  # a socket connects: positions are loaded again
    finally:
        resume.set()
    with pytest.raises(UnavailableError):
        await store.writer.wait(op)


async def being_numbered(chats, writers
                         ) -> tuple[SteeredMessages, MongoChatStore, asyncio.Future[Any]]:
    """A writer leading at epoch 1 whose batch of a's "numbered" is reading its
    conversation's highest seq, held."""
    a, b, with_b, _ = chats
    db = SteeredMessages()
    store = await chat_writer(writers, db=db)
    db.hold_seq_reads = True
    numbered = queue(store, draft(with_b, a, "numbered"))
    await reached_or_released(db.seq_read, db.seq_release)
    return db, store, numbered


@pytest.mark.parametrize("connects", [True, False], ids=["positions-loaded", "no-socket"])
async def test_a_batch_being_numbered_when_the_writer_leads_again_is_not_written(
        services, chats, writers, caplog, connects):
    """Taken under tenure 1, its conversation's seq still being read when the writer leads
    again: written now, its documents would carry the new epoch, which the store's fence
    lets through. It is refused before it is numbered, as a fenced batch (no warning of a
    failed batch), whether or not a socket loaded the positions again meanwhile."""
    db, store, numbered = await being_numbered(chats, writers)
    try:
        await store.lead(lambda: True, 3)
        if connects:
            await store.head()  # a socket connects: positions are loaded again
    finally:
        db.hold_seq_reads = False
        db.seq_release.set()
    with pytest.raises(UnavailableError):
        await numbered
    assert await copies_of("numbered") == 0
    assert batch_failures(caplog) == []


async def test_a_batch_numbered_while_a_lead_raises_the_fence_is_not_written(
        services, chats, writers):
    """The fence stamps the new epoch before the lead begins the new tenure: a batch of the
    earlier tenure numbered in between would pass it. The lead stops the earlier tenure's
    commits first (here may_commit stays true, as the role's `follow` is not called)."""
    db, store, numbered = await being_numbered(chats, writers)
    db.hold_barrier = True
    leading = asyncio.ensure_future(store.lead(lambda: True, 3))
    try:
        await reached(db.barrier)  # the fence stamps epoch 3; tenure 2 not begun
        db.hold_seq_reads = False
        db.seq_release.set()
        with pytest.raises(UnavailableError):
            await numbered
    finally:
        db.hold_seq_reads = db.hold_barrier = False
        db.seq_release.set()
        db.barrier_release.set()
        await leading
    assert await copies_of("numbered") == 0


@pytest.mark.parametrize("how", ["led-again", "leading-again", "deposed", "cannot-fence"])
async def test_a_batch_stored_before_another_writer_erased_its_sender_is_not_delivered(
        services, chats, writers, how):
    """Two batches in flight: a's to c is held in its insert; b's "mine" is stored and waits
    for it to be answered first. The writer's lease lapses; another leads (raising the
    store's fence), b is deleted and erased there (tombstoning "mine"). Then a's insert
    answers and "mine" is settled. After the lease came back to this writer, "mine",
    stored under the earlier tenure, is not acked, delivered or summarised under the
    later (its summary would write the erased text back). Settled while it leads again
    (its fence raised to 3, its tenure not begun: the raise's barrier held), or deposed
    and not leading again (also where the store refuses collMod, its inserts unstamped),
    its tenure still holds, but the store's fence was raised past the epoch it stored
    "mine" under: "mine" is answered unavailable and delivered to nobody here. b's retry
    with the same client_id, through the writer leading now, is refused unknown_user."""
    a, b, with_b, with_c = chats
    delivered: list[Message] = []
    db = SteeredCollections()
    flight = await two_in_flight(chats, writers, on_stored=delivered.append, db=db,
                                 fence=WriterFence(failing_collmod(13))
                                 if how == "cannot-fence" else None)
    store, paused, held, mine = flight.store, flight.paused, flight.held, flight.mine
    leading: asyncio.Task[None] | None = None
    try:
        flight.lease_valid = False
        other = await deleted_elsewhere(services, writers, b)
        if how == "led-again":
            await store.lead(lambda: True, 3)
        elif how == "leading-again":
            db.hold_barrier = True
            leading = asyncio.create_task(store.lead(lambda: True, 3))
            await reached(db.barrier_held)
        paused.release.set()
        for refused in (held, mine):
            with pytest.raises(UnavailableError) as answered:
                async with asyncio.timeout(5):
                    await refused
            assert answered.value.code == "unavailable"
        assert delivered == []
    finally:
        paused.release.set()
        db.barrier_release.set()
        if leading is not None:
            await leading
    await store.summaries.flush()
    assert await copies_of("mine") == 0
    users = CachedUserRepository(PgUserRepository(services.pool))
    with pytest.raises(AuthenticationError) as retried:
        await chat_on(other if how in ("deposed", "cannot-fence") else store, services,
                      users=users).send_message(b, with_b.id, client_id="mine", text="mine")
    assert retried.value.code == "unknown_user"


@pytest.mark.parametrize("run", [False, True], ids=["one", "run"])
async def test_a_receipts_mark_written_across_a_re_lead_records_no_event(
        services, chats, writers, caplog, run):
    """The mark's `$max` landed under tenure 1 (the store does not fence it) and its answer
    came after the writer led again: its event would take a position of the new tenure.
    Refused instead, as fenced (no warning of a failed write); the mark stays raised. With
    `run`, c's receipt is committed with b's (one bulk write of both marks): both alike."""
    marking = await readers(services, chats, run)
    db = SteeredCollections()
    store = await chat_writer(writers, db=db)
    db.hold_marks = True
    receipts = [asyncio.ensure_future(store.record_receipt(
        conversation.id, user, ReceiptKind.READ, 1, tuple(conversation.member_ids)))
        for user, conversation in marking]
    try:
        await reached(db.mark_landed)
        await store.lead(lambda: True, 3)
        await store.head()  # a socket connects: positions are loaded again
    finally:
        db.mark_release.set()
    for receipt in receipts:
        with pytest.raises(UnavailableError):
            await receipt
    assert db.receipt_requests["states.bulk_write"] == run
    for user, conversation in marking:
        assert [r.user_id for r in await stored_receipts(conversation.id)] == []
        marks = (await ChatCollections().states.find_one({"_id": conversation.id}))["marks"]
        assert marks[str(user)]["read"] == 1
    assert batch_failures(caplog) == []


async def test_a_receipts_mark_written_as_the_lease_lapses_keeps_its_event(
        services, chats, writers):
    """The mark's `$max` landed and its lease lapsed before the answer, but nobody led
    since: only a lead refuses its event past the unfenced mark, and the store's fence,
    still at this writer's epoch, takes it."""
    a, b, with_b, _ = chats
    said, _ = await services.chat.send_message(a, with_b.id, client_id="said", text="said")
    db = SteeredCollections()
    store = MongoChatStore(db=db)
    writers.append(store)
    lease_valid = True
    await store.lead(lambda: lease_valid, 1)
    db.hold_marks = True
    receipt = asyncio.ensure_future(store.record_receipt(
        with_b.id, b, ReceiptKind.READ, said.seq, tuple(with_b.member_ids)))
    try:
        await reached(db.mark_landed)
        lease_valid = False
    finally:
        db.mark_release.set()
    assert (await receipt) is not None
    assert [r.user_id for r in await stored_receipts(with_b.id)] == [b]


async def test_a_positions_load_that_spans_a_re_lead_is_read_again(services, chats, writers):
    """A socket's load of the positions reads the store before another writer stores
    "theirs", and is answered after this writer led again (which forgets the positions).
    Recorded, its top would be served as the head to a socket connecting after the lead,
    and allocated again to this writer's next message."""
    a, b, with_b, _ = chats
    db = SteeredCollections()
    store = await chat_writer(writers, db=db)
    db.hold_pos_reads = True
    before = asyncio.ensure_future(store.head())
    try:
        await reached(db.pos_read)
        other = MongoChatStore()
        writers.append(other)
        await other.lead(lambda: True, 2)
        theirs = await send(other, with_b, b, "theirs")
        await store.lead(lambda: True, 3)
        after = asyncio.ensure_future(store.head())
    finally:
        db.hold_pos_reads = False
        db.pos_release.set()
    async with asyncio.timeout(5):  # a load left pending fails here
        await before
        assert await after >= theirs.pos
    mine = await send(store, with_b, a, "mine")
    assert mine.pos > theirs.pos
