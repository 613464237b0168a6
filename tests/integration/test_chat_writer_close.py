"""A stop of the chat writer (`MongoChatStore.close`) lets the commit it is in land
(storage/mongo/landing.py): a send whose insert the store was handed is answered as stored
and delivered, not refused while stored; what was never handed to the store is refused
"The server is stopping." (retry at once)."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.errors import UnavailableError
from tests.support.chat_store import record_posts, stored_seqs, write
from tests.support.people import two_chats


@pytest.mark.parametrize("max_inflight", [1, 2])  # written by the writer task, or a task
async def test_a_send_whose_insert_is_in_flight_at_close_is_answered_and_delivered(
        client, services, flaky, monkeypatch, max_inflight):
    a, b, c, _ = await two_chats(client, services)
    chat, store, insert = flaky(max_inflight=max_inflight)
    posted = record_posts(chat, monkeypatch)
    handed, answer = asyncio.Event(), asyncio.Event()

    async def answered_later(docs) -> None:  # the store holds the insert, then does it
        handed.set()
        await answer.wait()
        await write(docs)
    insert.failure = answered_later
    first = asyncio.ensure_future(chat.send_message(a, c.id, client_id="x", text="x"))
    async with asyncio.timeout(5):
        await handed.wait()
    # Queued behind the insert in flight, or refused at the door once the close began:
    # never handed to the store either way.
    behind = asyncio.ensure_future(chat.send_message(b, c.id, client_id="y", text="y"))
    closing = asyncio.ensure_future(store.close())
    await asyncio.sleep(0.2)
    assert not first.done()  # not refused while the store may still store it
    answer.set()
    async with asyncio.timeout(5):
        await closing
        m, created = await first
    assert created and m.seq == 1
    assert [p.id for p in posted] == [m.id]  # delivered live
    with pytest.raises(UnavailableError, match="The server is stopping.") as stopping:
        await behind
    assert stopping.value.retry_after == 1
    assert await stored_seqs(store, c.id) == [(1, "x")]
