"""The writer's adaptive group commit against the real MongoDB-wire server: a commit while
the store is idle goes at once, sends to a conversation in flight ride the next commit, the
next commit is held only after a full batch (a shorter while after a middling one), and
with two batches in flight a batch of other conversations is written meanwhile but answered
after the one before it, a failure of one batch leaves no gap in another's conversation,
and a big batch is answered in order over several turns of the event loop."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Callable

import pytest
from pymongo.errors import NetworkTimeout

from nirvana.domain.errors import UnavailableError
from tests.support.chat_store import write
from tests.support.chat_writers import draft, queue
from tests.support.people import two_chats


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.005)


class GatedInsert:
    """The store's own insert, with the first call held until `gate` is set; records the
    client_ids of every call."""

    def __init__(self, fail_first: bool = False) -> None:
        self.gate = asyncio.Event()
        self.calls: list[list[str]] = []
        self.fail_first = fail_first

    async def __call__(self, docs) -> None:
        self.calls.append([d["client_id"] for d in docs])
        if len(self.calls) == 1:
            await self.gate.wait()
            if self.fail_first:
                raise NetworkTimeout("no answer, nothing written")
        await write(docs)


async def test_sends_to_a_conversation_in_flight_ride_the_next_commit_together(
        client, services, flaky):
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky()
    gated = insert.failure = GatedInsert()
    first = asyncio.ensure_future(chat.send_message(a, c.id, client_id="1", text="1"))
    await until(lambda: len(gated.calls) == 1)  # an idle writer commits at once
    rest = [queue(store, draft(c, b, f"r{i}")) for i in range(3)]
    await asyncio.sleep(0.2)
    assert len(gated.calls) == 1  # held: their conversation is in flight
    gated.gate.set()
    done = await asyncio.gather(first, *rest)
    assert gated.calls == [["1"], ["r0", "r1", "r2"]]
    assert [m.seq for m, _ in done] == [1, 2, 3, 4]
    assert [m.pos for m, _ in done] == sorted(m.pos for m, _ in done)


async def test_another_conversation_is_written_meanwhile_and_answered_after_the_first(
        client, services, flaky):
    a, _, c, other = await two_chats(client, services)
    chat, store, insert = flaky(max_inflight=2)
    gated = insert.failure = GatedInsert()
    answered: list[str] = []
    first = asyncio.ensure_future(chat.send_message(a, c.id, client_id="1", text="1"))
    first.add_done_callback(lambda _: answered.append("1"))
    await until(lambda: len(gated.calls) == 1)
    second = asyncio.ensure_future(chat.send_message(a, other.id, client_id="2", text="2"))
    second.add_done_callback(lambda _: answered.append("2"))
    await until(lambda: len(gated.calls) == 2)  # written while the first is in flight
    await asyncio.sleep(0.2)
    assert answered == []  # but not answered before it: positions only grow
    gated.gate.set()
    (m1, _), (m2, _) = await first, await second
    assert answered == ["1", "2"]
    assert m1.pos < m2.pos and m1.seq == m2.seq == 1
    assert await store.head() == m2.pos


async def test_a_batch_that_fails_while_another_is_in_flight_leaves_no_gap(
        client, services, flaky):
    """The first batch gets no answer and wrote nothing; the second, of another
    conversation, was written meanwhile. The first is asked again and stored with seq 1;
    the second is answered after it (position order), and the first conversation stays
    gapless."""
    a, b, c, other = await two_chats(client, services)
    chat, store, insert = flaky(max_inflight=2)
    gated = insert.failure = GatedInsert(fail_first=True)
    first = asyncio.ensure_future(chat.send_message(a, c.id, client_id="1", text="1"))
    await until(lambda: len(gated.calls) == 1)
    second = asyncio.ensure_future(chat.send_message(a, other.id, client_id="2", text="2"))
    await until(lambda: len(gated.calls) == 2)
    gated.gate.set()
    m1, created1 = await first
    m2, created2 = await second
    assert created1 and created2 and (m1.seq, m2.seq) == (1, 1)
    assert len(gated.calls) == 3 and gated.calls[2] == ["1"]  # asked again
    after, _ = await chat.send_message(b, c.id, client_id="3", text="3")
    assert after.seq == 2 and m1.pos < m2.pos < after.pos
    history = await store.messages(c.id, before=None, after=None, limit=10)
    assert [m.seq for m in history] == [1, 2]


async def test_after_a_light_commit_the_next_goes_at_once_and_after_a_full_one_it_waits(
        client, services, flaky):
    a, b, c, _ = await two_chats(client, services)
    spacing = 2.0  # long beside a commit on a busy machine, so the two cases stay apart
    chat, store, insert = flaky(commit_spacing=spacing, spacing_from=3)
    loop = asyncio.get_running_loop()
    await chat.send_message(a, c.id, client_id="1", text="1")
    started = loop.time()
    await chat.send_message(b, c.id, client_id="2", text="2")  # right after a batch of 1
    assert loop.time() - started < spacing / 2
    gated = insert.failure = GatedInsert()
    first = asyncio.ensure_future(chat.send_message(a, c.id, client_id="3", text="3"))
    await until(lambda: len(gated.calls) == 1)
    full = [queue(store, draft(c, b, f"f{i}"))
            for i in range(3)]  # ride the next commit together: a full batch (3)
    gated.gate.set()
    await asyncio.gather(first, *full)
    started = loop.time()
    await chat.send_message(a, c.id, client_id="after", text="after")
    assert loop.time() - started > spacing / 2  # held to fill the next batch
    assert gated.calls[1:] == [["f0", "f1", "f2"], ["after"]]


async def test_after_a_middling_batch_the_next_commit_waits_the_short_spacing(
        client, services, flaky):
    a, b, c, _ = await two_chats(client, services)
    spacing, short = 8.0, 2.0  # long beside a commit on a busy machine, and apart
    chat, store, insert = flaky(commit_spacing=spacing, spacing_from=100,
                                short_spacing=short, short_from=3)
    loop = asyncio.get_running_loop()
    gated = insert.failure = GatedInsert()
    first = asyncio.ensure_future(chat.send_message(a, c.id, client_id="1", text="1"))
    await until(lambda: len(gated.calls) == 1)
    middling = [queue(store, draft(c, b, f"m{i}"))
                for i in range(3)]  # ride the next commit together: 3, short of 100
    gated.gate.set()
    await asyncio.gather(first, *middling)
    started = loop.time()
    await chat.send_message(a, c.id, client_id="after", text="after")
    held = loop.time() - started
    # The short spacing, not the long one nor none. The margin accepted is half the short
    # spacing either side (1 s): a middling commit slower than that on a loaded machine
    # fails the lower bound falsely, since the hold counts from that commit's start.
    assert short / 2 < held < (short + spacing) / 2
    assert gated.calls[1:] == [["m0", "m1", "m2"], ["after"]]


class LoopTurns:
    """Counts turns of the event loop, for telling whether anything else ran between two
    callbacks."""

    def __init__(self) -> None:
        self.count = 0
        self._task = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        while True:
            self.count += 1
            await asyncio.sleep(0)

    def stop(self) -> None:
        self._task.cancel()


async def test_a_big_batch_is_answered_in_order_without_holding_the_loop_throughout(
        client, services, flaky):
    """Each answer delivers a message to every recipient: a batch of hundreds answered in
    one step of the event loop held every ping, read and timer behind its whole fan-out."""
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky()
    gated = insert.failure = GatedInsert()
    first = asyncio.ensure_future(chat.send_message(a, c.id, client_id="1", text="1"))
    await until(lambda: len(gated.calls) == 1)
    turns = LoopTurns()
    answered: list[tuple[str, int]] = []
    batch = [queue(store, draft(c, b, f"r{i}")) for i in range(200)]  # ride the next commit
    for i, future in enumerate(batch):
        future.add_done_callback(lambda _, i=i: answered.append((f"r{i}", turns.count)))
    gated.gate.set()
    await first
    done = await asyncio.gather(*batch)
    turns.stop()
    assert gated.calls[1] == [f"r{i}" for i in range(200)]  # one batch
    assert [name for name, _ in answered] == [f"r{i}" for i in range(200)]
    assert [m.seq for m, _ in done] == list(range(2, 202))
    assert answered[0][1] < answered[-1][1]  # the loop turned while they were answered



class CountedPasses:
    """A delivery pass (sends.py `DeliveryPass`) that counts how often it is opened."""

    def __init__(self) -> None:
        self.opened = 0
        self.open = False

    @contextlib.contextmanager
    def __call__(self):
        self.opened += 1
        self.open = True
        try:
            yield
        finally:
            self.open = False


async def test_a_big_batch_is_answered_in_one_delivery_pass(client, services, flaky):
    """A chunk's 32 messages reach ~32 rooms: a pass per chunk gave nearly every frame a
    write of its own, one per batch gives a socket all its frames of the batch in one."""
    a, b, c, _ = await two_chats(client, services)
    passes = CountedPasses()
    chat, store, insert = flaky(delivery_pass=passes)
    gated = insert.failure = GatedInsert()
    first = asyncio.ensure_future(chat.send_message(a, c.id, client_id="1", text="1"))
    await until(lambda: len(gated.calls) == 1)
    batch = [queue(store, draft(c, b, f"r{i}")) for i in range(100)]  # the next commit
    opened = passes.opened
    gated.gate.set()
    await first
    await asyncio.gather(*batch)
    assert gated.calls[1] == [f"r{i}" for i in range(100)]  # one batch, in 4 chunks
    assert passes.opened - opened <= 2  # the first send's batch, then this one's


@pytest.mark.parametrize("max_inflight", [1, 2])
async def test_a_send_whose_insert_is_under_way_when_the_store_stops_is_told_so(
        client, services, flaky, max_inflight):
    a, _, c, _ = await two_chats(client, services)
    # The close first lets the insert in flight land, for at most one store timeout.
    chat, store, insert = flaky(timeout=1.0, max_inflight=max_inflight)
    gated = insert.failure = GatedInsert()  # never opened: the insert hangs
    sent = asyncio.ensure_future(chat.send_message(a, c.id, client_id="1", text="1"))
    await until(lambda: len(gated.calls) == 1)
    await store.close()
    with pytest.raises(UnavailableError, match="stopping"):
        await asyncio.wait_for(sent, 5)
