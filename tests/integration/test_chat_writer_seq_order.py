"""Within a writer tenure a conversation's seqs follow its positions, also when a copy of
an insert that got no answer lands late: resume reads a conversation past a position by
seq (conversation_since.py), so a message stored with a lower seq at a higher position
than another would be skipped. The copy is refused, by its `_id`, once the message it
carries is stored again: so the writer never gives up that message for a store error while
such a copy may still land (sends.py `prepare`, `_until_answered`)."""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import OperationFailure

from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.documents import MessageDoc
from tests.support.chat_store import Stall, record_posts, write, written
from tests.support.chat_writers import draft, queue
from tests.support.people import two_chats
from tests.support.steered_messages import SteeredMessages


class Once:
    """A `SteeredMessages` switch: True for the first ask once `armed`."""

    def __init__(self) -> None:
        self.armed, self.asked = False, 0

    def __call__(self) -> bool:
        if self.armed and self.asked == 0:
            self.asked += 1
            return True
        return False


async def _stored(conversation_id: str) -> list[tuple[int, int, str]]:
    """(seq, pos, text) of every stored message of the conversation, in seq order."""
    return [(d["seq"], d["pos"], d["text"]) async for d in
            MessageDoc.get_pymongo_collection().find(
                {"conversation_id": conversation_id}).sort("seq", 1)]


def _in_order(stored: list[tuple[int, int, str]]) -> bool:
    return [pos for _, pos, _ in stored] == sorted(pos for _, pos, _ in stored)


class HeldFirst:
    """A `SwitchableInsert.failure`: the store keeps the first ask and gives no answer
    (`stall.docs`, landing when the test writes them), answers the ask numbered `refuse`
    with an error, and writes and answers every other."""

    def __init__(self, refuse: int | None = None) -> None:
        self.stall, self.refuse, self.asks = Stall(), refuse, 0

    async def __call__(self, docs) -> None:
        self.asks += 1
        if self.asks == 1:
            await self.stall(docs)
        if self.asks == self.refuse:
            raise OperationFailure("the store refused it (test)", code=96)
        await write(docs)


@pytest.mark.parametrize("failing", ["seq read", "insert"])
async def test_a_taken_back_message_is_not_given_up_for_a_store_error(
        client, services, flaky, monkeypatch, failing):
    """`c` holds seqs 1-3. One batch numbers a retry of the stored `old` (4) and `m` (5);
    its first ask is held by the store, its second is answered: the retry is a duplicate,
    so `m` is taken back, to be numbered again. Then the read of the conversation's seq
    for that gets no answer once, or the insert of `m`'s next batch is answered with an
    error on its first ask. Refusing `m` then (as before) let `y` take seq 4 at a higher
    position, and the held copy land `m` at 5 below it. Now `m` is asked again: stored at
    4, the held copy refused, `y` gets 5."""
    a, b, c, _ = await two_chats(client, services)
    seq_read = Once()
    chat, store, insert = flaky(db=SteeredMessages(fail_seq_reads=seq_read))
    posted = record_posts(chat, monkeypatch)
    for text in ("old", "b2", "b3"):
        await chat.send_message(a if text == "old" else b, c.id, client_id=text, text=text)
    insert.failure = held = HeldFirst(refuse=3 if failing == "insert" else None)
    seq_read.armed = failing == "seq read"
    sends = [queue(store, draft(c, a, "old"), on_stored=posted.append),
             queue(store, draft(c, b, "m"), on_stored=posted.append)]
    (again, created_again), (m, created) = await asyncio.gather(*sends)
    insert.failure = None
    # Two asks of the batch, then `m`'s: one, or two when the first was refused.
    assert held.asks == (4 if failing == "insert" else 3)
    assert seq_read.asked == (failing == "seq read")
    assert not created_again and again.seq == 1
    assert created and m.seq == 4
    await written(held.stall.docs)  # the store gets to the first ask now: refused whole
    y, _ = await chat.send_message(a, c.id, client_id="y", text="y")
    assert y.seq == 5
    stored = await _stored(c.id)
    assert [(seq, text) for seq, _, text in stored] == [
        (1, "old"), (2, "b2"), (3, "b3"), (4, "m"), (5, "y")]
    assert _in_order(stored), stored
    assert [p.text for p in posted] == ["old", "b2", "b3", "m", "y"]


async def test_an_error_answered_after_an_ask_with_no_answer_is_asked_again(
        client, services, flaky, monkeypatch):
    """The first ask of `m` is held by the store; the second is answered with an error.
    Refusing the batch then (as before) let `y` take `m`'s seq, and the held copy land
    `m` above it at a lower position. Now the insert is asked again: `m` is stored once,
    in its seq and position, and the held copy is refused."""
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky()
    posted = record_posts(chat, monkeypatch)
    await chat.send_message(a, c.id, client_id="first", text="first")
    insert.failure = held = HeldFirst(refuse=2)
    m, created = await chat.send_message(b, c.id, client_id="m", text="m")
    insert.failure = None
    assert held.asks == 3 and created and m.seq == 2
    await written(held.stall.docs)
    y, _ = await chat.send_message(a, c.id, client_id="y", text="y")
    assert y.seq == 3
    stored = await _stored(c.id)
    assert [(seq, text) for seq, _, text in stored] == [(1, "first"), (2, "m"), (3, "y")]
    assert _in_order(stored), stored
    assert [p.text for p in posted] == ["first", "m", "y"]


async def test_an_insert_refused_on_its_first_ask_is_still_refused_at_once(
        client, services, flaky):
    """Only after an ask with no answer are answered errors asked again: an insert the
    store refuses outright is refused to its sender, as before, and nothing is stored."""
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky()

    async def refused(docs) -> None:
        raise OperationFailure("the store refused it (test)", code=96)

    insert.failure = refused
    with pytest.raises(UnavailableError):
        await asyncio.wait_for(chat.send_message(a, c.id, client_id="x", text="x"), 5)
    insert.failure = None
    assert await _stored(c.id) == []
    x, created = await chat.send_message(a, c.id, client_id="x", text="x")
    assert created and x.seq == 1
