"""What a history page costs the store and this process (storage/mongo/history.py): a
reader who hid a long run, a cursor far from the conversation, a reader who hid it all.
Counted through the collections the store is given (tests/support/chat_reads.py)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from nirvana.domain.chat.entities import Message, MessageKind
from nirvana.storage.mongo.codec import message_doc, message_id
from nirvana.storage.mongo.documents import ConversationStateDoc
from nirvana.storage.mongo.history import MAX_WIDTH
from tests.support.chat_reads import CountingCollections
from tests.support.chat_store import write
from tests.support.people import friends

READER = 2


def _message(cid: str, seq: int, hidden: bool = False) -> Message:
    return Message(id=message_id(1, f"{cid}-{seq}"), conversation_id=cid, seq=seq, pos=seq,
                   sender_id=1, client_id=f"{cid}-{seq}", kind=MessageKind.TEXT,
                   text=f"m{seq}", attachments=(), reply_to=None,
                   created_at=datetime.now(timezone.utc), audience=(1, READER),
                   hidden_for=(READER,) if hidden else ())


async def _stored(cid: str, n: int, *, summary: int, hidden=()) -> None:
    """`n` messages, those in `hidden` deleted by READER for themselves; the stored
    summary says `summary` (it lags, or leads, the messages)."""
    docs = [message_doc(_message(cid, s, s in hidden)) for s in range(1, n + 1)]
    for i in range(0, len(docs), 1000):
        await write(docs[i:i + 1000])
    await ConversationStateDoc.get_pymongo_collection().insert_one(
        {"_id": cid, "last_seq": summary})


@pytest.mark.parametrize("limit", [1, 20, 100])
async def test_a_reader_who_hid_a_long_run_gets_a_page_in_bounded_reads_and_documents(
        counted, limit):
    store, counts = counted
    n, run = 3000, range(11, 2991)  # visible: 1-10 and 2991-3000
    await _stored("c", n, summary=n, hidden=set(run))
    visible = [s for s in range(1, n + 1) if s not in run]
    # Widths double from a page up to MAX_WIDTH pages, then stay.
    bound = 3 + int(math.log2(MAX_WIDTH)) + math.ceil(len(run) / (MAX_WIDTH * limit))
    pages = [({"before": 2991, "after": None}, [s for s in visible if s < 2991][-limit:]),
             ({"before": None, "after": 10}, [s for s in visible if s > 10][:limit]),
             ({"before": None, "after": None}, visible[-limit:])]
    for cursor, expected in pages:
        counts.reset()
        page = await store.history("c", **cursor, limit=limit, hidden_for=READER)
        assert [m.seq for m in page] == expected, cursor
        assert counts.documents == len(expected), cursor  # only the page comes back
        assert counts.reads <= bound, (cursor, counts.windows)
    counts.reset()  # everyone else: one read
    page = await store.history("c", before=2991, after=None, limit=limit)
    assert [m.seq for m in page] == list(range(2991 - limit, 2991))
    assert counts.reads == 1 and counts.documents == limit


@pytest.mark.parametrize("before", [2 ** 63 - 1, 2 ** 53])
@pytest.mark.parametrize("reader", [None, READER])
async def test_a_cursor_far_past_the_end_takes_three_reads_and_gives_the_newest_page(
        counted, before, reader):
    store, counts = counted
    # The summary lags: the messages past it are on the page too.
    await _stored("c", 130, summary=100, hidden={125} if reader else set())
    visible = [s for s in range(1, 131) if not (reader and s == 125)]
    page = await store.history("c", before=before, after=None, limit=20, hidden_for=reader)
    assert [m.seq for m in page] == visible[-20:]
    assert counts.reads <= 3 and counts.documents == 20, counts.windows


@pytest.mark.parametrize("before", [None, 2 ** 63 - 1])
async def test_a_summary_that_leads_the_messages_costs_a_few_empty_reads(counted, before):
    """Past the floor nothing is known, but the messages end 370 seqs below it (as after
    a restore): the empty windows below the floor double, then reach the messages."""
    store, counts = counted
    await _stored("c", 130, summary=500)
    page = await store.history("c", before=before, after=None, limit=20)
    assert [m.seq for m in page] == list(range(111, 131))
    assert counts.reads <= 6 and counts.documents == 20, counts.windows


@pytest.mark.parametrize("after", [-2 ** 63, -2 ** 53])
async def test_a_cursor_far_before_the_start_takes_three_reads_and_gives_the_first_page(
        counted, after):
    store, counts = counted
    await _stored("c", 130, summary=100)
    page = await store.history("c", before=None, after=after, limit=20)
    assert [m.seq for m in page] == list(range(1, 21))
    assert counts.reads <= 3 and counts.documents == 20, counts.windows


async def test_a_reader_who_hid_every_message_gets_empty_pages_in_bounded_reads(counted):
    store, counts = counted
    await _stored("c", 500, summary=480, hidden=set(range(1, 501)))
    for cursor in ({"before": None, "after": None}, {"before": 300, "after": None},
                   {"before": None, "after": 0}, {"before": None, "after": 300},
                   {"before": 2 ** 63 - 1, "after": None}, {"before": None, "after": -1}):
        counts.reset()
        assert await store.history("c", **cursor, limit=20, hidden_for=READER) == []
        assert counts.reads <= 7 and counts.documents == 0, (cursor, counts.windows)
    assert len(await store.history("c", before=None, after=None, limit=20)) == 20


async def test_a_page_of_no_messages_is_refused(counted):
    store, _ = counted
    await _stored("c", 10, summary=10)
    with pytest.raises(ValueError):
        await store.history("c", before=None, after=None, limit=0)


async def test_the_newest_page_reads_no_summary_when_this_process_stored_the_messages(
        client, services, flaky):
    """The floor comes from the seqs this process stored, also after its summaries were
    written, and a message landing late (an older seq, after a flush) does not lower it."""
    a, b = await friends(client, services)
    counts = CountingCollections()
    chat, store, _ = flaky(db=counts, summary_interval=3600)  # no flush but ours
    c = await chat.open_direct(a, b)
    sent = [(await chat.send_message(a, c.id, client_id=f"k{i}", text=f"m{i}"))[0]
            for i in range(30)]

    async def newest_page() -> list[int]:
        counts.reset()
        page = await store.history(c.id, before=None, after=None, limit=20)
        assert counts.floor_reads == 0 and counts.windows == [{"$gt": 10}], counts.windows
        return [m.seq for m in page]

    assert await newest_page() == list(range(11, 31))
    await store.summaries.flush()
    assert await newest_page() == list(range(11, 31))
    store.summaries.add(replace(sent[4], pos=sent[-1].pos + 1))  # landed late, seq 5
    assert await newest_page() == list(range(11, 31))
