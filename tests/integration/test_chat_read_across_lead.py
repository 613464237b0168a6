"""A leader's chat read that waits for the store while its process is deposed, another
writer stores a message and leaves its summary unwritten, and the process leads again
(storage/mongo/chat_store.py `_read_recovered`): the read sees that message. Over the real
MongoDB-wire store and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, TypeVar

import pytest

from nirvana.domain.chat.entities import Message
from nirvana.domain.chat.messaging import direct_key
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from tests.support.chat_collections import SteeredCollections, SummaryClock
from tests.support.chat_writers import send
from tests.support.two_in_flight import reached

T = TypeVar("T")


async def leading(writers: list[MongoChatStore]
                  ) -> tuple[MongoChatStore, SteeredCollections]:
    """A writer over steered collections, leading at epoch 1, its summaries kept buffered
    (its clock stands still)."""
    db = SteeredCollections()
    store = MongoChatStore(db=db, summary_clock=SummaryClock())
    writers.append(store)
    await store.lead(lambda: True, 1)
    return store, db


async def across_a_lead(store: MongoChatStore, writers: list[MongoChatStore], chats,
                        reading: Awaitable[T], held: asyncio.Event,
                        release: Callable[[], None]) -> tuple[T, Message]:
    """`reading`, started now, is `held`; meanwhile `store` follows another writer (epoch
    2), which stores b's "theirs" and keeps its summary buffered, then leads again (epoch
    3); then `release`d. Its answer, and "theirs"."""
    _, b, with_b, _ = chats
    started = asyncio.ensure_future(reading)
    try:
        await reached(held)
        other = MongoChatStore(summary_clock=SummaryClock())
        writers.append(other)
        await other.lead(lambda: True, 2)
        await store.follow(other.head)
        theirs = await send(other, with_b, b, "theirs")
        await store.lead(lambda: True, 3)
    except BaseException:
        started.cancel()  # the test failed: the read's answer is not asked for
        release()
        await asyncio.gather(started, return_exceptions=True)
        raise
    release()
    async with asyncio.timeout(5):
        return await started, theirs


@pytest.mark.parametrize("read", ["by-id", "member", "direct", "list", "list-paged"])
async def test_a_conversation_read_across_a_lead_sees_the_other_writers_message(
        services, chats, writers, read):
    """The read's own "mine" is in the first tenure's buffer; its states read is held until
    the process led again. Read then, the stored summary lacks "theirs" and the new
    tenure's buffer is not recovered yet: the read recovers and reads again."""
    a, b, with_b, _ = chats
    store, db = await leading(writers)
    mine = await send(store, with_b, a, "mine")
    db.hold_state_reads = True
    reading: Awaitable[Any] = (
        store.get_conversation(with_b.id) if read == "by-id"
        else store.member_conversation(a, with_b.id) if read == "member"
        else store.find_direct(direct_key(a, b)) if read == "direct"
        else store.conversations_of(a, 10) if read == "list"
        # One page of fewer than a's conversations: the read by activity, then of the page.
        else store.conversations_of(a, 1))

    def release() -> None:
        db.hold_state_reads = False
        db.state_read_release.set()
    found, theirs = await across_a_lead(store, writers, chats, reading, db.state_read_held,
                                        release)
    seen = (next(c for c in found.items if c.id == with_b.id) if read.startswith("list")
            else found)
    assert seen is not None and theirs.seq > mine.seq
    assert seen.last_seq == theirs.seq
    assert seen.last_message is not None and seen.last_message.id == theirs.id


async def test_a_resume_across_a_lead_replays_the_other_writers_message(
        services, chats, writers):
    """The resume's head waits for the positions' load (a fresh tenure's) until the process
    led again, so it covers "theirs"; read then, the stored summary lacks it and the new
    tenure's buffer is not recovered yet, so the conversation looked idle since 0: the
    resume recovers and reads again, or the client would pass "theirs" for good."""
    a = chats[0]
    store, db = await leading(writers)
    db.hold_pos_reads = True

    def release() -> None:
        db.hold_pos_reads = False
        db.pos_release.set()
    page, theirs = await across_a_lead(store, writers, chats, store.stream_since(a, 0, 100),
                                       db.pos_read, release)
    assert page.head >= theirs.pos
    assert theirs.id in [item.id for item in page.items if isinstance(item, Message)]


@pytest.mark.parametrize("read", ["conversation", "resume"])
async def test_a_read_under_tenures_that_keep_changing_is_answered_or_refused(
        services, chats, writers, read):
    """Every read waits while the process follows and leads again (as a lease that keeps
    failing makes it): read again twice, not held back for as long as the tenures change.
    The third conversation read is answered as read (the next read repairs it); a resume
    whose third read the tenures moved across too is refused unavailable, which its client
    retries, rather than answered with a head past what it may lack."""
    a, _, with_b, _ = chats
    store, db = await leading(writers)
    other = MongoChatStore(summary_clock=SummaryClock())
    writers.append(other)
    await other.lead(lambda: True, 2)
    # Each read of the conversations' states is held until the process led again.
    db.hold_state_reads = True
    reading = asyncio.ensure_future(store.get_conversation(with_b.id) if read == "conversation"
                                    else store.stream_since(a, 0, 100))
    reads = 0
    try:
        for epoch in (3, 4, 5):
            await reached(db.state_read_held)
            reads += 1
            db.state_read_held.clear()
            await store.follow(other.head)
            await store.lead(lambda: True, epoch)
            # The held read waits on this event; the next read on a new one.
            held, db.state_read_release = db.state_read_release, asyncio.Event()
            held.set()
        async with asyncio.timeout(5):
            if read == "conversation":
                found = await reading
                assert found is not None and found.id == with_b.id
            else:
                with pytest.raises(UnavailableError):
                    await reading
    finally:
        db.hold_state_reads = False
        db.state_read_release.set()
        if not reading.done():
            reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
    assert reads == 3
    assert not db.state_read_held.is_set()  # no fourth read
