"""After an insert was answered, the batch's follow-ups (the read of a retried message's
stored copy, the delete that takes a message back) can be answered with an error: the
store's error is asked again like a silent insert, not the batch refused; the writer's
limits (`max_waiting`, the fence) hold while it asks; an error that is not the store's
refuses the batch (sends.py; docs/protocol.md, "Ordering and delivery guarantees")."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.fence import FencedOutError
from tests.support.chat_store import record_posts, stored_seqs
from tests.support.chat_writers import draft, queue
from tests.support.people import two_chats
from tests.support.steered_messages import SteeredMessages
from tests.support.waiting import wait_until


class Refuse:
    """A `SteeredMessages` switch: True for the first `times` asks once `armed`, or for
    every ask while `always`."""

    def __init__(self, times: int = 1) -> None:
        self.times, self.armed, self.always, self.asked = times, False, False, 0

    def __call__(self) -> bool:
        if self.always or (self.armed and self.asked < self.times):
            self.asked += 1
            return True
        return False


@pytest.mark.parametrize("refused", ["reads", "deletes"])
async def test_an_error_answered_after_an_answered_insert_is_asked_again_not_refused(
        client, services, flaky, monkeypatch, refused):
    """`old` is stored as seq 1. A batch of its retry (numbered 2) and `new` (3) is
    inserted and answered: the retry refused on its `_id`, `new` stored. The read of the
    stored `old`, or the delete that takes `new` back, is then answered with an error,
    once. Asked again rather than the batch refused: the retry is answered with `old`,
    `new` is stored again as 2, acked and delivered once, and no seq stays unused."""
    a, b, c, _ = await two_chats(client, services)
    refuse = Refuse()
    chat, store, insert = flaky(db=SteeredMessages(**{f"refuse_{refused}": refuse}))
    posted = record_posts(chat, monkeypatch)
    old, _ = await chat.send_message(a, c.id, client_id="old", text="old")
    refuse.armed = True
    sends = [queue(store, draft(c, a, "old"), on_stored=posted.append),
             queue(store, draft(c, b, "new"), on_stored=posted.append)]
    (again, created_again), (new, created) = await asyncio.gather(*sends)
    assert refuse.asked == 1
    assert not created_again and (again.id, again.seq, again.pos) == (old.id, old.seq,
                                                                       old.pos)
    assert created and new.seq == 2
    assert await stored_seqs(store, c.id) == [(1, "old"), (2, "new")]
    assert [(m.text, m.seq, m.pos) for m in posted] == [
        ("old", 1, old.pos), ("new", 2, new.pos)]
    m, _ = await chat.send_message(a, c.id, client_id="m", text="m")
    assert m.seq == 3 and not store.writer.stepped_down


async def test_past_max_waiting_while_a_follow_up_is_refused_new_work_is_refused_at_once(
        client, services, flaky):
    """While the read after an answered insert keeps meeting an error, nothing else is
    committed, as while an insert gets no answer: past `max_waiting` queued, a new send is
    answered `unavailable` at once; those queued before it are stored once the read works."""
    a, b, c, other = await two_chats(client, services)
    refuse = Refuse()
    chat, store, insert = flaky(db=SteeredMessages(refuse_reads=refuse))
    store.writer.max_waiting = 2
    await chat.send_message(a, c.id, client_id="old", text="old")
    refuse.always = True
    retry = asyncio.ensure_future(chat.send_message(a, c.id, client_id="old", text="old"))
    await wait_until(lambda: refuse.asked > 1, "the read asked again")
    assert not retry.done()
    waiting = [asyncio.ensure_future(chat.send_message(a, other.id, client_id=f"w{i}",
                                                       text="w")) for i in range(2)]
    await wait_until(lambda: len(store.writer._pending) == 2, "two sends queued")
    with pytest.raises(UnavailableError, match="not answering"):
        await asyncio.wait_for(chat.send_message(a, other.id, client_id="w9", text="w"), 1)
    refuse.always = False
    again, created = await retry
    assert not created and again.seq == 1
    stored = [await w for w in waiting]  # queued in either order (each awaits first)
    assert sorted((m.seq, created) for m, created in stored) == [(1, True), (2, True)]


async def test_a_writer_fenced_out_while_a_follow_up_is_refused_stops_and_refuses(
        client, services, flaky):
    """A writer deposed while it asks a follow-up again stops asking, and refuses the
    batch as fenced out (another instance writes now)."""
    a, b, c, _ = await two_chats(client, services)
    refuse = Refuse()
    chat, store, insert = flaky(db=SteeredMessages(refuse_reads=refuse))
    await chat.send_message(a, c.id, client_id="old", text="old")
    refuse.always = True
    retry = asyncio.ensure_future(chat.send_message(a, c.id, client_id="old", text="old"))
    await wait_until(lambda: refuse.asked > 1, "the read asked again")
    assert not retry.done()  # asked again, not refused at the first
    store.writer.may_commit = lambda: False  # the lease lapsed
    with pytest.raises(FencedOutError):
        await retry
    stopped_at = refuse.asked
    await asyncio.sleep(0.3)
    assert refuse.asked == stopped_at  # not asked any more


async def test_an_error_not_the_stores_after_an_answered_insert_refuses_the_batch(
        client, services, flaky):
    """Only the store's errors are asked again: a read that fails in this process (a
    stored document this release cannot read, a bug) would fail every ask and stall every
    chat write. The batch is refused, as before, and the writer goes on."""
    a, b, c, other = await two_chats(client, services)
    broken = Refuse()
    chat, store, insert = flaky(db=SteeredMessages(break_reads=broken))
    await chat.send_message(a, c.id, client_id="old", text="old")
    broken.armed = True
    with pytest.raises(UnavailableError):
        await asyncio.wait_for(chat.send_message(a, c.id, client_id="old", text="old"), 5)
    assert broken.asked == 1 and not store.writer._sends.asking
    m, created = await asyncio.wait_for(
        chat.send_message(a, other.id, client_id="m", text="m"), 5)
    assert created and m.seq == 1
