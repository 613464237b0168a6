"""Stream positions against the real MongoDB-wire server: the head is only ever a stored
position, and never goes back, across a failed batch, a restart or pruned events; and seqs
stay gapless when a batch is stored in part."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError

from nirvana.domain.chat.entities import ReceiptKind
from nirvana.domain.errors import UnavailableError
from nirvana.storage.mongo.changes import MongoChatChanges
from tests.support.chat_store import write
from tests.support.chat_writers import queue
from tests.support.people import friends, two_chats


# The store timeout of the stores whose sends fail: each lost send is answered at twice
# it, and the default (5 s) made those waits most of the file's time.
REFUSED_WITHIN = 1.0


async def _store_down(docs) -> None:
    raise AutoReconnect("connection closed")  # what a killed store answers


async def test_a_failed_batch_is_never_served_as_head_and_positions_move_on(
        client, services, flaky):
    a, b = await friends(client, services)
    chat, store, insert = flaky(timeout=REFUSED_WITHIN)
    c = await chat.open_direct(a, b)
    stored, _ = await chat.send_message(a, c.id, client_id="stored", text="stored")
    assert await store.head() == stored.pos

    insert.failure = _store_down
    refused = await asyncio.gather(*(
        chat.send_message(b, c.id, client_id=f"lost{i}", text="lost") for i in range(5)),
        return_exceptions=True)
    assert all(isinstance(r, UnavailableError) for r in refused), refused
    assert await store.head() == stored.pos  # nothing past the last stored message

    insert.failure = None
    after, _ = await chat.send_message(b, c.id, client_id="after", text="after")
    assert after.pos > stored.pos and await store.head() == after.pos
    page = await store.stream_since(b, stored.pos, 100)
    # The writer kept asking: once the store answers, the sends it held (answered
    # store_timeout meanwhile) land first, in their order, then the next.
    assert [i.text for i in page.items] == ["lost"] * 5 + ["after"]
    assert [i.pos for i in page.items] == sorted(i.pos for i in page.items)
    assert page.items[-1].pos == after.pos


async def test_a_batch_whose_last_message_is_refused_serves_only_stored_positions(
        client, services, flaky):
    """An unordered insert that stores all but the last document: the head is the last
    stored position, not the refused one's."""
    a, b, c, other = await two_chats(client, services)
    chat, store, insert = flaky()
    await chat.send_message(a, c.id, client_id="first", text="first")

    async def all_but_last(docs) -> None:
        await write(docs[:-1])
        raise BulkWriteError({"writeErrors": [
            {"index": len(docs) - 1, "code": 2, "errmsg": "refused"}]})

    insert.failure = all_but_last
    # Queued at once: one batch, the refused message last and alone in its conversation.
    results = await asyncio.gather(queue(store, _draft(c, b, "k0")),
                                   queue(store, _draft(c, b, "k1")),
                                   queue(store, _draft(other, a, "k2")),
                                   return_exceptions=True)
    insert.failure = None
    assert isinstance(results[2], UnavailableError), results
    assert await store.head() == max(m.pos for m, _ in results[:2])


async def test_after_a_restart_the_head_never_goes_below_what_was_served(
        client, services, flaky):
    """The campaign's case, on the store: a batch fails, a socket opens (reads the head),
    the store object is replaced (a restart). The head it serves is not lower than any
    served before, and new positions come after every one served."""
    a, b = await friends(client, services)
    chat, store, insert = flaky(timeout=REFUSED_WITHIN)
    c = await chat.open_direct(a, b)
    await chat.send_message(a, c.id, client_id="stored", text="stored")
    insert.failure = _store_down
    await asyncio.gather(*(chat.send_message(b, c.id, client_id=f"lost{i}", text="lost")
                           for i in range(5)), return_exceptions=True)
    served = await store.head()
    await store.close()

    _, restarted, _ = flaky()
    assert await restarted.head() >= served
    again, _ = await queue(restarted, _draft(c, b, "again"))
    assert again.pos > served


async def test_the_head_counts_pruned_events_after_a_restart(client, services, flaky):
    """Events newer than every message, then pruned: the head served before stays the
    floor of the next start's, or their positions would be handed out again."""
    a, b = await friends(client, services)
    chat, store, _ = flaky()
    c = await chat.open_direct(a, b)
    await chat.send_message(a, c.id, client_id="k", text="hi")
    await chat.mark(b, c.id, ReceiptKind.READ, 1)
    served = await store.head()
    pruned = await MongoChatChanges(store).prune_events(
        datetime.now(timezone.utc) + timedelta(days=1))
    assert pruned >= 1
    await store.close()

    _, restarted, _ = flaky()
    assert await restarted.head() >= served


def _draft(conversation, sender: int, client_id: str):
    from nirvana.domain.chat.entities import MessageDraft, MessageKind

    return MessageDraft(conversation_id=conversation.id, sender_id=sender, client_id=client_id,
                        kind=MessageKind.TEXT, text=client_id, attachments=(), reply_to=None,
                        audience=conversation.member_ids,
                        created_at=datetime.now(timezone.utc))


@pytest.mark.parametrize("beyond", [1, 125])
async def test_a_resume_from_beyond_the_head_is_told_to_resync(client, services, beyond):
    a, b = await friends(client, services)
    chat = services.chat
    c = await chat.open_direct(a, b)
    await chat.send_message(a, c.id, client_id="k", text="hi")
    head = await chat.head()
    page = await chat.resume(b, head + beyond)
    assert page.truncated and page.items == [] and page.head == head
    assert not (await chat.resume(b, head)).truncated


async def test_a_message_refused_inside_a_batch_leaves_no_gap_in_the_seqs(
        client, services, flaky):
    """Seqs are gapless like positions are monotonic: a seq is only answered when every
    seq below it in the conversation is stored."""
    a, b = await friends(client, services)
    chat, store, insert = flaky()
    c = await chat.open_direct(a, b)

    async def refuse_the_middle_once(docs) -> None:
        insert.failure = None
        await write(docs[:1] + docs[2:])
        raise BulkWriteError({"writeErrors": [{"index": 1, "code": 2, "errmsg": "refused"}]})

    insert.failure = refuse_the_middle_once
    results = await asyncio.gather(*(queue(store, _draft(c, b, f"k{i}")) for i in range(3)),
                                   return_exceptions=True)
    assert isinstance(results[1], UnavailableError), results
    answered = sorted(m.seq for m, _ in (results[0], results[2]))
    assert answered == [1, 2]
    history = await store.messages(c.id, before=None, after=None, limit=10)
    assert [(m.seq, m.text) for m in history] == [(1, "k0"), (2, "k2")]
