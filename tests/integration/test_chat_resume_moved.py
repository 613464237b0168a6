"""Resume after a send in doubt that landed late: moved to the head with its old seq, below
a later seq of its conversation, it is still replayed from a position between the two
(docs/protocol.md, "resume after P misses nothing")."""

from __future__ import annotations

import pytest
from pymongo.errors import NetworkTimeout

from nirvana.domain.chat.entities import Message
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from tests.support.chat_collections import SummaryClock
from tests.support.chat_store import write
from tests.support.people import two_chats


async def _moved_below_a_later_seq(client, services, flaky, *, flushed_before_move: bool,
                                   retry_stalls: bool):
    """a's conversations: `c` with b, `other` with d. b's "late" (seq 1 of `c`) gets no
    answer and is not found when the writer asks; it lands just before a's "later", which
    the store refuses on its seq and a's retry stores as seq 2; a then sees "seen" in
    `other`; b's retry finds "late" stored and delivers it at the head (`retry_stalls`:
    the retry gets no answer either, and the next batch finds "late" and delivers it).
    Returns (store, a, what a resuming from "seen" must get)."""
    a, b, c, other = await two_chats(client, services)
    # The clock stands still: no background flush, the test says when summaries are written.
    chat, store, insert = flaky(summary_clock=SummaryClock())
    stalled = []

    async def stall(docs):
        stalled.extend(docs)
        raise NetworkTimeout("no answer")

    insert.failure = stall
    with pytest.raises(UnavailableError):
        await chat.send_message(b, c.id, client_id="late", text="late")
    insert.failure = None
    await chat.send_message(a, other.id, client_id="t", text="t")  # asks: not written yet

    async def lands_first(docs):
        insert.failure = None
        await write(stalled)  # the store gets to the stalled request just before this one
        await write(docs)

    insert.failure = lands_first
    with pytest.raises(UnavailableError):  # its seq 1 is the late one's now
        await chat.send_message(a, c.id, client_id="later", text="later")
    later, _ = await chat.send_message(a, c.id, client_id="later", text="later")
    seen, _ = await chat.send_message(a, other.id, client_id="seen", text="seen")
    if flushed_before_move:
        await store.summaries.flush()
    if retry_stalls:
        insert.failure = stall
        with pytest.raises(UnavailableError):
            await chat.send_message(b, c.id, client_id="late", text="late")
        insert.failure = None
        after, _ = await chat.send_message(a, other.id, client_id="t2", text="t2")  # finds it
        late, created = await chat.send_message(b, c.id, client_id="late", text="late")
        assert not created and late.pos < after.pos
        expected = [(late.pos, "late"), (after.pos, "t2")]
    else:
        late, created = await chat.send_message(b, c.id, client_id="late", text="late")
        assert created
        expected = [(late.pos, "late")]
    assert (late.seq, later.seq) == (1, 2)
    assert later.pos < seen.pos < late.pos
    return store, a, expected, seen.pos


async def _replayed(store: MongoChatStore, user_id: int, since: int) -> list[tuple[int, str]]:
    page = await store.stream_since(user_id, since, 100)
    return [(i.pos, i.text) for i in page.items if isinstance(i, Message)]


ORDERS = pytest.mark.parametrize("flushed_before_move", [False, True],
                                 ids=["later-unwritten", "later-written"])
WAYS = pytest.mark.parametrize("retry_stalls", [False, True], ids=["by-retry", "by-reconcile"])


@ORDERS
@WAYS
async def test_resume_replays_a_late_send_moved_past_a_later_seq(
        client, services, flaky, flushed_before_move, retry_stalls):
    store, a, expected, since = await _moved_below_a_later_seq(
        client, services, flaky, flushed_before_move=flushed_before_move,
        retry_stalls=retry_stalls)
    assert await _replayed(store, a, since) == expected  # its summary unwritten
    await store.summaries.flush()
    assert await _replayed(store, a, since) == expected  # written
    restarted = MongoChatStore()
    try:
        assert await _replayed(restarted, a, since) == expected
    finally:
        await restarted.close()


@ORDERS
@WAYS
async def test_resume_replays_a_late_send_moved_past_a_later_seq_after_a_crash(
        client, services, flaky, flushed_before_move, retry_stalls):
    """The writer's summaries die with it; the next start re-summarises the messages past
    the checkpoint from their documents."""
    store, a, expected, since = await _moved_below_a_later_seq(
        client, services, flaky, flushed_before_move=flushed_before_move,
        retry_stalls=retry_stalls)
    restarted = MongoChatStore()  # its recover reads what the crashed one never wrote
    try:
        assert await _replayed(restarted, a, since) == expected
    finally:
        await restarted.close()


@ORDERS
async def test_a_follower_replays_a_late_send_moved_past_a_later_seq(
        client, services, flaky, flushed_before_move):
    """Another process resumes the client: it reads the writer's unwritten summaries from
    the messages past the checkpoint, and its written ones from the store."""
    store, a, expected, since = await _moved_below_a_later_seq(
        client, services, flaky, flushed_before_move=flushed_before_move,
        retry_stalls=False)
    follower = MongoChatStore()
    try:
        await follower.follow(store.head)
        assert await _replayed(follower, a, since) == expected
        await store.summaries.flush()
        assert await _replayed(follower, a, since) == expected
    finally:
        await follower.close()
