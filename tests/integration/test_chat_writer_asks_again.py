"""An insert that gets no answer is asked again, with the same documents, until the store
answers, and nothing else is committed meanwhile (sends.py `_until_answered`): within one
writer tenure no seq stays unused, no message is moved, nothing is delivered twice
(docs/protocol.md, "Ordering and delivery guarantees")."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError, NetworkTimeout

from nirvana.domain.errors import UnavailableError
from nirvana.metrics import Metrics
from nirvana.storage.mongo.fence import FencedOutError
from tests.support.chat_store import Stall, record_posts, stored_seqs, write, written
from tests.support.chat_writers import draft, queue
from tests.support.people import two_chats
from tests.support.steered_messages import SteeredMessages


class NoAnswer:
    """A `SwitchableInsert.failure` that gives no answer to the first `times` asks, each
    doing `then(docs)` first (the store may write all, a part or nothing of them), and
    writes and answers the asks after. `asks` holds every ask's documents."""

    def __init__(self, times: int = 1, then=None) -> None:
        self.times, self.then = times, then
        self.asks: list[list[dict]] = []

    async def __call__(self, docs) -> None:
        self.asks.append([dict(d) for d in docs])
        if len(self.asks) <= self.times:
            if self.then is not None:
                await self.then(docs)
            raise NetworkTimeout("no answer")
        await write(docs)


async def test_an_answer_lost_then_given_on_the_second_ask_acks_the_sender(
        client, services, flaky, monkeypatch):
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky()
    posted = record_posts(chat, monkeypatch)
    insert.failure = lost = NoAnswer(then=write)  # written, the answer lost
    m, created = await chat.send_message(a, c.id, client_id="x", text="x")
    assert created and m.seq == 1
    assert len(lost.asks) == 2 and lost.asks[0] == lost.asks[1]  # the same documents
    assert [(p.id, p.seq, p.pos) for p in posted] == [(m.id, m.seq, m.pos)]
    n, _ = await chat.send_message(b, c.id, client_id="n", text="n")
    assert n.seq == 2 and await stored_seqs(store, c.id) == [(1, "x"), (2, "n")]


async def test_a_stalled_original_landing_after_the_second_ask_is_refused_whole(
        client, services, flaky, monkeypatch):
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky()
    posted = record_posts(chat, monkeypatch)
    stall = Stall()
    insert.failure = NoAnswer(then=stall)  # kept by the store, not written yet
    m, created = await chat.send_message(a, c.id, client_id="x", text="x")
    assert created and m.seq == 1
    await written(stall.docs)  # the store gets to the first ask now: refused on its `_id`
    n, _ = await chat.send_message(b, c.id, client_id="n", text="n")
    assert await stored_seqs(store, c.id) == [(1, "x"), (2, "n")]
    assert [p.text for p in posted] == ["x", "n"]
    again, created = await chat.send_message(a, c.id, client_id="x", text="x")
    assert not created and (again.seq, again.pos) == (m.seq, m.pos) and len(posted) == 2


async def test_a_part_written_with_no_answer_is_completed_by_the_second_ask(
        client, services, flaky, monkeypatch):
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky()
    posted = record_posts(chat, monkeypatch)
    insert.failure = NoAnswer(then=lambda docs: write(docs[1:2]))  # the middle one only
    sends = [queue(store, draft(c, a, k), on_stored=posted.append) for k in ("p", "q", "r")]
    acked = [m for m, _ in await asyncio.gather(*sends)]
    assert [(m.seq, m.text) for m in acked] == [(1, "p"), (2, "q"), (3, "r")]
    assert await stored_seqs(store, c.id) == [(1, "p"), (2, "q"), (3, "r")]
    assert [(m.id, m.pos) for m in posted] == [(m.id, m.pos) for m in acked]


async def test_a_retry_of_an_older_message_in_a_batch_asked_again_leaves_no_gap(
        client, services, flaky, monkeypatch):
    """`old` is stored as seq 1. A batch of its retry (2) and `new` (3) gets no answer and
    stalls; asked again, the store refuses the retry on its `_id`: it is answered with
    `old`, `new` is taken back and stored as 2. The stalled first ask then lands (twice:
    before `new` is stored again, and after): nothing of it stays."""
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky()
    posted = record_posts(chat, monkeypatch)
    old, _ = await chat.send_message(a, c.id, client_id="old", text="old")
    stall = Stall()
    asks = 0

    async def insert_once_stalled(docs):
        nonlocal asks
        asks += 1
        if asks == 1:
            return await stall(docs)
        if asks == 3:  # `new` asked for again: the first ask's copy lands just before
            await written(stall.docs)
        await write(docs)

    insert.failure = insert_once_stalled
    sends = [queue(store, draft(c, a, "old"), on_stored=posted.append),
             queue(store, draft(c, b, "new"), on_stored=posted.append)]
    (again, created_again), (new, created) = await asyncio.gather(*sends)
    assert not created_again and (again.seq, again.pos) == (old.seq, old.pos)
    assert created and new.seq == 2
    await written(stall.docs)
    insert.failure = None
    assert await stored_seqs(store, c.id) == [(1, "old"), (2, "new")]
    assert [(m.text, m.seq, m.pos) for m in posted] == [
        ("old", 1, old.pos), ("new", 2, new.pos)]


async def test_a_take_back_with_no_answer_is_asked_again_and_its_late_run_takes_nothing(
        client, services, flaky, monkeypatch):
    a, b, c, _ = await two_chats(client, services)
    failing = True
    db = SteeredMessages(fail_deletes=lambda: failing)
    chat, store, insert = flaky(db=db)
    posted = record_posts(chat, monkeypatch)
    await chat.send_message(a, c.id, client_id="old", text="old")

    def answer_deletes_soon():
        nonlocal failing
        failing = False
    asyncio.get_running_loop().call_later(0.2, answer_deletes_soon)
    sends = [queue(store, draft(c, a, "old"), on_stored=posted.append),
             queue(store, draft(c, b, "new"), on_stored=posted.append)]
    (_, created_again), (new, created) = await asyncio.gather(*sends)
    assert not created_again and created and new.seq == 2
    assert db.unanswered_deletes
    await db.run_late()
    assert await stored_seqs(store, c.id) == [(1, "old"), (2, "new")]
    assert [(m.text, m.seq) for m in posted] == [("old", 1), ("new", 2)]


async def test_a_store_silent_past_the_deadline_answers_the_sender_then_delivers_in_order(
        client, services, flaky, monkeypatch):
    """The sender hears store_timeout at its deadline; the writer keeps asking, and once
    the store answers the message is delivered, once, before the send queued behind it."""
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky(timeout=0.25)  # the deadline is twice this
    posted = record_posts(chat, monkeypatch)
    silent = True

    async def silent_until_told(docs):
        if silent:
            raise NetworkTimeout("no answer")
        await write(docs)
    insert.failure = silent_until_told  # asked at 0, 50, 150, 350, 750 ms
    with pytest.raises(UnavailableError) as timed_out:
        await chat.send_message(a, c.id, client_id="x", text="x")
    assert timed_out.value.code == "store_timeout" and posted == []
    silent = False  # the ask at 750 ms is answered
    n, _ = await chat.send_message(b, c.id, client_id="n", text="n")
    assert [(m.text, m.seq) for m in posted] == [("x", 1), ("n", 2)]
    assert posted[0].pos < n.pos
    again, created = await chat.send_message(a, c.id, client_id="x", text="x")
    assert not created and again.pos == posted[0].pos and len(posted) == 2


async def test_nothing_else_is_committed_while_an_insert_is_asked_again(
        client, services, flaky, monkeypatch):
    """max_inflight 2: a send to another conversation waits for the asked one."""
    a, b, c, other = await two_chats(client, services)
    chat, store, insert = flaky(max_inflight=2)
    posted = record_posts(chat, monkeypatch)
    asking_again = asyncio.Event()

    async def second_ask(docs) -> None:
        if len(insert.failure.asks) == 2:
            asking_again.set()
    insert.failure = NoAnswer(times=3, then=second_ask)
    first = asyncio.ensure_future(chat.send_message(a, c.id, client_id="x", text="x"))
    async with asyncio.timeout(5):
        await asking_again.wait()
    second, _ = await chat.send_message(a, other.id, client_id="y", text="y")
    m, _ = await first
    assert [p.text for p in posted] == ["x", "y"] and m.pos < second.pos


async def test_closing_while_asking_refuses_the_senders_as_stopping(client, services, flaky):
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky()

    async def never(docs):
        raise AutoReconnect("no answer")
    insert.failure = never
    send = asyncio.ensure_future(chat.send_message(a, c.id, client_id="x", text="x"))
    await asyncio.sleep(0.2)
    assert not send.done()  # still asked, not refused at the first lost answer
    await store.close()
    with pytest.raises(UnavailableError, match="The server is stopping.") as stopping:
        await send
    assert stopping.value.retry_after == 1  # on another instance, once reconnected


async def test_closing_while_an_ask_swallows_the_cancel_still_stops(client, services, flaky):
    """pymongo can turn a cancel that lands inside an operation into a network error: the
    writer must still stop, not ask a silent store again forever."""
    a, b, c, _ = await two_chats(client, services)
    # The close first lets the insert in flight land, for at most one store timeout.
    chat, store, insert = flaky(timeout=1.0)

    async def swallowing(docs):
        try:
            await asyncio.sleep(3600)  # the store gives no answer
        except asyncio.CancelledError:
            pass
        raise AutoReconnect("no answer")
    insert.failure = swallowing
    send = asyncio.ensure_future(chat.send_message(a, c.id, client_id="x", text="x"))
    await asyncio.sleep(0.2)
    assert not send.done()
    async with asyncio.timeout(5):
        await store.close()
    with pytest.raises(UnavailableError, match="The server is stopping.") as stopping:
        await send
    assert stopping.value.retry_after == 1  # on another instance, once reconnected


async def test_a_writer_asking_again_says_for_how_long_until_the_store_answers(
        client, services, flaky):
    """A silent store stalls every chat write, and no batch reports meanwhile: the writer
    says for how long (`nirvana_chat_writer_stalled_seconds`), and 0 once it answers."""
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky()
    metrics = Metrics()
    metrics.watch_chat_writer_stall(store.writer.stalled_for)

    def gauge() -> float:
        return metrics.registry.get_sample_value("nirvana_chat_writer_stalled_seconds")
    answer = asyncio.Event()

    async def silent_until_told(docs):
        if not answer.is_set():
            raise AutoReconnect("no answer")
        await write(docs)
    insert.failure = silent_until_told
    assert store.writer.stalled_for() == 0 and gauge() == 0
    send = asyncio.ensure_future(chat.send_message(a, c.id, client_id="x", text="x"))
    await asyncio.sleep(0.5)
    assert 0.3 < store.writer.stalled_for() < 5
    assert 0.3 < gauge() < 5
    answer.set()
    m, created = await send
    assert created and store.writer.stalled_for() == 0 and gauge() == 0


async def test_a_writer_fenced_out_while_asking_stops_and_refuses(client, services, flaky):
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky()
    asked = 0

    async def never(docs):
        nonlocal asked
        asked += 1
        raise AutoReconnect("no answer")
    insert.failure = never
    send = asyncio.ensure_future(chat.send_message(a, c.id, client_id="x", text="x"))
    await asyncio.sleep(0.2)
    assert not send.done()
    store.writer.may_commit = lambda: False  # the lease lapsed
    with pytest.raises(FencedOutError):
        await send
    stopped_at = asked
    await asyncio.sleep(0.3)
    assert asked == stopped_at  # not asked any more


async def test_a_seq_another_message_holds_is_numbered_again_not_refused(
        client, services, flaky, monkeypatch):
    """The seq this writer gives is held already (another writer's message, or a late copy
    of one this writer withdrew): the send is queued again and numbered from the store,
    with no error to its sender, so it never leaves the writer while a late copy of its
    own may still land below messages numbered after it."""
    a, b, c, _ = await two_chats(client, services)
    chat, store, _ = flaky()
    other_chat, other_store, _ = flaky()
    first, _ = await chat.send_message(a, c.id, client_id="first", text="first")
    elsewhere, _ = await other_chat.send_message(b, c.id, client_id="elsewhere",
                                                 text="elsewhere")
    assert elsewhere.seq == 2
    m, created = await chat.send_message(a, c.id, client_id="x", text="x")  # given seq 2
    assert created and m.seq == 3
    assert await stored_seqs(store, c.id) == [(1, "first"), (2, "elsewhere"), (3, "x")]


async def test_past_max_waiting_while_asking_new_work_is_refused_at_once(
        client, services, flaky):
    """While the store stays silent nothing is committed and senders retry: past
    `max_waiting` queued, a new send is answered `unavailable` at once instead of waiting
    in memory; those queued before it are stored once the store answers."""
    a, b, c, other = await two_chats(client, services)
    chat, store, insert = flaky()
    store.writer.max_waiting = 2
    answering = False
    asked = asyncio.Event()

    async def until_told(docs):
        if not answering:
            asked.set()
            raise NetworkTimeout("no answer")
        await write(docs)
    insert.failure = until_told
    first = asyncio.ensure_future(chat.send_message(a, c.id, client_id="x", text="x"))
    await asyncio.wait_for(asked.wait(), 5)
    waiting = [asyncio.ensure_future(chat.send_message(a, other.id, client_id=f"w{i}",
                                                       text="w")) for i in range(2)]
    while len(store.writer._pending) < 2:
        await asyncio.sleep(0.01)
    with pytest.raises(UnavailableError, match="not answering"):
        await asyncio.wait_for(chat.send_message(a, other.id, client_id="w9", text="w"), 1)
    answering = True
    stored = [await first, *[await w for w in waiting]]
    assert [m.text for m, created in stored] == ["x", "w", "w"]
    assert all(created for _, created in stored)
    again, created = await chat.send_message(a, other.id, client_id="w9", text="w")
    assert created and again.seq == 3


async def test_an_insert_whose_write_concern_failed_is_acked_only_once_asked_again(
        client, services, flaky, monkeypatch):
    """MongoDB may answer an insert it wrote on the primary with a write concern error
    (replication timed out, the primary stepped down): a failover may lose it. It is not
    acked then, but asked again; the second ask finds the same documents stored and acks
    them once, in their seq and position."""
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky()
    posted = record_posts(chat, monkeypatch)
    asks: list[list[dict]] = []

    async def unconfirmed_once(docs) -> None:
        asks.append([dict(d) for d in docs])
        await write(docs)
        if len(asks) == 1:
            raise BulkWriteError({
                "writeErrors": [], "nInserted": len(docs), "nUpserted": 0, "nMatched": 0,
                "nModified": 0, "nRemoved": 0, "upserted": [],
                "writeConcernErrors": [{"code": 64, "errmsg": "waiting for replication "
                                                              "timed out"}]})

    insert.failure = unconfirmed_once
    m, created = await chat.send_message(a, c.id, client_id="x", text="x")
    assert len(asks) == 2 and asks[0] == asks[1]  # not acked on the first answer
    assert created and m.seq == 1
    assert [(p.id, p.seq, p.pos) for p in posted] == [(m.id, m.seq, m.pos)]
    n, _ = await chat.send_message(b, c.id, client_id="n", text="n")
    assert n.seq == 2 and await stored_seqs(store, c.id) == [(1, "x"), (2, "n")]
