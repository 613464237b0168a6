"""Sends whose insert got no answer (sends.py), as docs/protocol.md ("Ordering and delivery
guarantees") says: a message the store wrote keeps the seq it was stored with, also when it
is found and delivered late, after a higher one; a seq stays unused exactly where the batch
numbered a message that was not stored (a retry refused on its `_id`, a document that never
landed) below one that was, and a history page passes over it. And a message found
stored by an earlier attempt that was delivered is not delivered again (`reconcile`)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from pymongo.errors import NetworkTimeout

from nirvana.domain.chat.entities import MessageDraft, MessageKind
from nirvana.domain.errors import UnavailableError
from tests.support.chat_store import Stall, write, written
from tests.support.people import two_chats
from tests.support.steered_messages import SteeredMessages


def _draft(conversation, sender: int, client_id: str) -> MessageDraft:
    return MessageDraft(conversation_id=conversation.id, sender_id=sender, client_id=client_id,
                        kind=MessageKind.TEXT, text=client_id, attachments=(), reply_to=None,
                        audience=conversation.member_ids,
                        created_at=datetime.now(timezone.utc))


def record_posts(chat, monkeypatch) -> list:
    """The messages the chat hands to its publisher (delivers live), in order; the test's
    own appends hand theirs to it too (`on_stored`), in the same order."""
    posted = []
    hub_posted = chat.publisher.message_posted
    monkeypatch.setattr(chat.publisher, "message_posted",
                        lambda m, conv: (posted.append(m), hub_posted(m, conv)))
    return posted


async def _answer_lost(docs) -> None:
    """An insert the store writes whole, whose answer is lost."""
    await written(docs)
    raise NetworkTimeout("the answer was lost")


async def _refused(store, posted: list, conversation, *sends: tuple[int, str]) -> None:
    """Append (sender, client_id) sends as one batch, each handing its message to `posted`
    once stored; the batch's write fails (as the test has set it up), so each is answered
    with an error."""
    appended = [store.append(_draft(conversation, sender, client_id), on_stored=posted.append)
                for sender, client_id in sends]
    for result in await asyncio.gather(*appended, return_exceptions=True):
        assert isinstance(result, UnavailableError)


async def _seqs(store, conversation_id: str) -> list[tuple[int, str]]:
    return [(m.seq, m.text) for m in await store.messages(conversation_id, before=None,
                                                          after=None, limit=100)]


async def _next_after(store, conversation_id: str, seq: int) -> int | None:
    """The seq a history page of one after `seq` starts with: past an unused seq, the next
    stored one."""
    page = await store.messages(conversation_id, before=None, after=seq, limit=1)
    return page[0].seq if page else None


async def test_a_retry_and_a_new_send_with_no_answer_leave_the_retrys_seq_unused(
        client, services, flaky, monkeypatch):
    """`old` is stored as seq 1. One batch holds its retry (numbered 2, refused on its
    `_id`) and `new` (numbered 3, written); the answer is lost. The next batch finds `new`
    stored and delivers it at 3; seq 2 stays unused (a page after 1 starts at 3), the
    next send is 4, and `old` is not delivered again."""
    a, b, c, other = await two_chats(client, services)
    chat, store, insert = flaky()
    posted = record_posts(chat, monkeypatch)
    await chat.send_message(a, c.id, client_id="old", text="old")

    insert.failure = _answer_lost
    await _refused(store, posted, c, (a, "old"), (b, "new"))
    insert.failure = None
    await chat.send_message(a, other.id, client_id="t", text="t")  # finds `new`
    assert [(m.text, m.seq) for m in posted if m.conversation_id == c.id] == [
        ("old", 1), ("new", 3)]
    after, _ = await chat.send_message(b, c.id, client_id="after", text="after")
    assert after.seq == 4
    again, created = await chat.send_message(b, c.id, client_id="new", text="new")
    assert not created and again.seq == 3
    assert await _seqs(store, c.id) == [(1, "old"), (3, "new"), (4, "after")]
    assert await _next_after(store, c.id, 1) == 3


async def test_a_part_written_with_no_answer_leaves_the_unwritten_seq_unused(
        client, services, flaky, monkeypatch):
    """`x` (seq 1) and `y` (seq 2) in one batch; the store writes only `y` and gives no
    answer. `y` is delivered at 2; `x`'s retry stores it as 3; seq 1 stays unused."""
    a, b, c, other = await two_chats(client, services)
    chat, store, insert = flaky()
    posted = record_posts(chat, monkeypatch)

    async def second_only(docs):
        await write(docs[1:])
        raise NetworkTimeout("no answer")

    insert.failure = second_only
    await _refused(store, posted, c, (a, "x"), (b, "y"))
    insert.failure = None
    await chat.send_message(a, other.id, client_id="t", text="t")  # finds `y`
    x, created = await chat.send_message(a, c.id, client_id="x", text="x")
    assert created and x.seq == 3
    assert [(m.text, m.seq) for m in posted if m.conversation_id == c.id] == [
        ("y", 2), ("x", 3)]
    assert await _seqs(store, c.id) == [(2, "y"), (3, "x")]
    assert await _next_after(store, c.id, 0) == 2


async def test_a_part_that_lands_late_keeps_its_seq_after_a_higher_one(
        client, services, flaky, monkeypatch):
    """`old` is stored as seq 1. A batch of its retry (2) and `new` (3) stalls; asked, the
    store has neither; then it gets to the batch and writes `new` at 3 (the retry is
    refused on its `_id`). The next send is 4; `new`'s retry delivers it after that, at 3,
    with a higher position; seq 2 stays unused."""
    a, b, c, other = await two_chats(client, services)
    chat, store, insert = flaky()
    posted = record_posts(chat, monkeypatch)
    await chat.send_message(a, c.id, client_id="old", text="old")
    stall = Stall()
    insert.failure = stall
    await _refused(store, posted, c, (a, "old"), (b, "new"))
    insert.failure = None
    # Asks: `old` is found where it was acked (declined: delivered already), `new` is not.
    await chat.send_message(a, other.id, client_id="t", text="t")
    await written(stall.docs)  # the store gets to the stalled request now
    nxt, _ = await chat.send_message(a, c.id, client_id="next", text="next")
    assert nxt.seq == 4
    new, created = await chat.send_message(b, c.id, client_id="new", text="new")
    assert created and new.seq == 3 and new.pos > nxt.pos
    assert [(m.text, m.seq) for m in posted if m.conversation_id == c.id] == [
        ("old", 1), ("next", 4), ("new", 3)]
    last, _ = await chat.send_message(a, c.id, client_id="last", text="last")
    assert last.seq == 5
    assert await _seqs(store, c.id) == [(1, "old"), (3, "new"), (4, "next"), (5, "last")]
    assert await _next_after(store, c.id, 1) == 3


@pytest.mark.parametrize("found_by", ["reconcile", "retry"])
async def test_a_late_landing_is_delivered_at_the_seq_it_was_stored_with(
        client, services, flaky, monkeypatch, found_by):
    """`old` is stored as seq 1; a batch of its retry (2) and `new` (3) stalls and lands
    (`new` at 3) before anyone sends to the conversation again. `new`, found by the next
    batch or by its own retry, is delivered at 3, the seq a history read showed before;
    seq 2 stays unused, and the next send is 4."""
    a, b, c, other = await two_chats(client, services)
    chat, store, insert = flaky()
    posted = record_posts(chat, monkeypatch)
    await chat.send_message(a, c.id, client_id="old", text="old")
    stall = Stall()
    insert.failure = stall
    await _refused(store, posted, c, (a, "old"), (b, "new"))
    insert.failure = None
    if found_by == "retry":
        await chat.send_message(a, other.id, client_id="t", text="t")  # asks: none
        await written(stall.docs)
        assert await _seqs(store, c.id) == [(1, "old"), (3, "new")]
        new, created = await chat.send_message(b, c.id, client_id="new", text="new")
        assert created
    else:
        await written(stall.docs)
        assert await _seqs(store, c.id) == [(1, "old"), (3, "new")]
        await chat.send_message(a, other.id, client_id="t", text="t")  # finds `new`
        new, created = await chat.send_message(b, c.id, client_id="new", text="new")
        assert not created
    assert new.seq == 3
    assert [(m.text, m.seq) for m in posted if m.conversation_id == c.id] == [
        ("old", 1), ("new", 3)]
    assert [m.id for m in posted if m.text == "new"] == [new.id]
    nxt, _ = await chat.send_message(a, c.id, client_id="next", text="next")
    assert nxt.seq == 4
    assert await _seqs(store, c.id) == [(1, "old"), (3, "new"), (4, "next")]
    assert await _next_after(store, c.id, 1) == 3


async def test_a_retry_of_an_acked_send_with_no_answer_does_not_deliver_it_again(
        client, services, flaky, monkeypatch):
    """`x` is acked (its ack lost on the way, say); the client's retry gets no answer
    either (the store refused it on its `_id`). The next batch finds `x` stored, but by an
    earlier attempt that was delivered: it stays where it was acked, and is not delivered
    a second time."""
    a, b, c, other = await two_chats(client, services)
    chat, store, insert = flaky()
    posted = record_posts(chat, monkeypatch)
    x, _ = await chat.send_message(a, c.id, client_id="x", text="x")

    insert.failure = _answer_lost
    with pytest.raises(UnavailableError):
        await chat.send_message(a, c.id, client_id="x", text="x")
    insert.failure = None
    await chat.send_message(a, other.id, client_id="t", text="t")  # looks for `x`
    assert [m.text for m in posted] == ["x", "t"]
    again, created = await chat.send_message(a, c.id, client_id="x", text="x")
    assert not created and (again.seq, again.pos) == (x.seq, x.pos)
    assert [m.text for m in posted] == ["x", "t"]


async def test_a_take_back_with_no_answer_is_done_again_and_its_late_run_takes_nothing(
        client, services, flaky, monkeypatch):
    """`old` is stored as seq 1. A batch of its retry (2, refused on its `_id`) and `new`
    (3, written) is answered, but taking `new` back gets no answer: the batch is in doubt,
    both senders refused. The next batch takes `new` back again, answered, before it looks:
    `new` is not delivered from that batch; its retry is numbered afresh (2). The first
    take-back, run by the store only now, takes nothing: every delivered message is still
    stored, none was delivered twice."""
    a, b, c, other = await two_chats(client, services)
    failing = False
    db = SteeredMessages(fail_deletes=lambda: failing)
    chat, store, insert = flaky(db=db)
    posted = record_posts(chat, monkeypatch)
    await chat.send_message(a, c.id, client_id="old", text="old")
    failing = True
    await _refused(store, posted, c, (a, "old"), (b, "new"))
    failing = False
    assert db.unanswered_deletes
    await chat.send_message(a, other.id, client_id="t", text="t")  # takes `new` back
    assert await _seqs(store, c.id) == [(1, "old")]
    new, created = await chat.send_message(b, c.id, client_id="new", text="new")
    assert created and new.seq == 2
    await db.run_late()
    again, created = await chat.send_message(b, c.id, client_id="new", text="new")
    assert not created and (again.seq, again.pos) == (new.seq, new.pos)
    assert await _seqs(store, c.id) == [(1, "old"), (2, "new")]
    assert [(m.text, m.seq) for m in posted if m.conversation_id == c.id] == [
        ("old", 1), ("new", 2)]


async def test_a_move_with_no_answer_is_delivered_by_the_next_batch(
        client, services, flaky, monkeypatch):
    """`n`'s insert is written with no answer. The next batch finds it and moves it to the
    head; the store applies the move but gives no answer (that batch fails). The batch
    after finds `n` at the moved position, neither where it was tried nor delivered: it
    delivers `n`, once, live; `n`'s retry is a duplicate of it."""
    a, b, c, other = await two_chats(client, services)
    losing = False
    chat, store, insert = flaky(db=SteeredMessages(lose_moves=lambda: losing))
    posted = record_posts(chat, monkeypatch)

    insert.failure = _answer_lost
    with pytest.raises(UnavailableError):
        await chat.send_message(a, c.id, client_id="n", text="n")
    insert.failure = None
    losing = True
    with pytest.raises(UnavailableError):
        await chat.send_message(a, other.id, client_id="t", text="t")  # moves `n`, no answer
    losing = False
    assert [m.text for m in posted] == []
    await chat.send_message(a, other.id, client_id="t", text="t")  # finds `n` moved
    assert [m.text for m in posted] == ["n", "t"]
    again, created = await chat.send_message(a, c.id, client_id="n", text="n")
    assert not created and again.seq == 1 and again.pos == posted[0].pos
    assert [m.text for m in posted] == ["n", "t"]
