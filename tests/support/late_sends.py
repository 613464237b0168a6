"""A send in doubt that lands late: moved to the head with its old seq, below a later seq of
its conversation (sends.py `_move_to_head`), and what a client resuming from between the two
is replayed."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from nirvana.domain.chat.entities import Conversation, Message
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.chat_store import MongoChatStore
from tests.support.chat_collections import SummaryClock
from tests.support.chat_store import Stall, write
from tests.support.people import two_chats


class LateSend(NamedTuple):
    chat: Any
    store: MongoChatStore
    a: int
    c: Conversation  # where "late" (seq 1) landed past "later" (seq 2)
    other: Conversation  # a's other conversation, where "seen" is
    late: Message
    since: int  # "seen"'s position: between "later"'s and "late"'s
    expected: list[tuple[int, str]]  # what a resuming from `since` must get


async def moved_below_a_later_seq(client, services, flaky, *, flushed_before_move: bool,
                                  retry_stalls: bool, **options) -> LateSend:
    """a's conversations: `c` with b, `other` with d. b's "late" (seq 1 of `c`) gets no
    answer and is not found when the writer asks; it lands just before a's "later", which
    the store refuses on its seq and a's retry stores as seq 2; a then sees "seen" in
    `other`; b's retry finds "late" stored and delivers it at the head (`retry_stalls`:
    the retry gets no answer either, and the next batch finds "late" and delivers it).
    `options` go to the store (`flaky`); by default its summary clock stands still: no
    background flush, the test says when summaries are written."""
    a, b, c, other = await two_chats(client, services)
    chat, store, insert = flaky(**{"summary_clock": SummaryClock(), **options})
    stall = Stall()
    insert.failure = stall
    with pytest.raises(UnavailableError):
        await chat.send_message(b, c.id, client_id="late", text="late")
    insert.failure = None
    await chat.send_message(a, other.id, client_id="t", text="t")  # asks: not written yet

    async def lands_first(docs):
        insert.failure = None
        await write(stall.docs)  # the store gets to the stalled request just before this one
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
    return LateSend(chat, store, a, c, other, late, seen.pos, expected)


async def replayed(store: MongoChatStore, user_id: int, since: int) -> list[tuple[int, str]]:
    """The messages a resume from `since` gives the user: (position, text)."""
    page = await store.stream_since(user_id, since, 100)
    return [(i.pos, i.text) for i in page.items if isinstance(i, Message)]
