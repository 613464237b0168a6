"""The chat writer answers a batch's sends in delivery passes (ws/transport.py): a member
gets every new message of one commit in one write to its socket, in order. Against the
real MongoDB-wire server, with the hub delivering to a socket whose writes are counted."""

from __future__ import annotations

import asyncio
import json
from contextlib import contextmanager

from pymongo.errors import NetworkTimeout

from nirvana.ws.connection import Connection
from nirvana.ws.transport import delivery_pass
from tests.support.chat_store import write
from tests.support.direct_sockets import open_protocol, texts_of
from tests.support.people import friends


async def test_a_members_messages_of_one_commit_go_out_in_one_write(client, services, flaky):
    a, b = await friends(client, services)
    chat, store, insert = flaky(delivery_pass=delivery_pass)
    c = await chat.open_direct(a, b)
    protocol, wire = open_protocol()
    conn = Connection(b, "s", max_queue=100)
    await services.hub.connected(conn)
    try:
        conn.start_live(await chat.head())
        while conn.queued_frames:  # what the sender task sends first (online lists)
            await conn.next()
        conn.direct = protocol.send_now
        loop = asyncio.get_running_loop()
        written, release = loop.create_future(), loop.create_future()

        async def held(docs) -> None:  # the first commit waits: the next three queue
            insert.failure = None
            await write(docs)
            written.set_result(None)
            await release
        insert.failure = held
        sends = [await chat.submit_message(a, c.id, client_id="k0", text="zero")]
        await written
        for n in (1, 2, 3):
            sends.append(await chat.submit_message(a, c.id, client_id=f"k{n}", text=f"m{n}"))
        wire.written.clear()
        release.set_result(None)
        await asyncio.gather(*sends)
        assert store.batches == 2
        first, rest = wire.written  # one write per commit
        frames = [json.loads(t) for t in texts_of(first) + texts_of(rest)]
        assert [(f["type"], f["message"]["text"]) for f in frames] == [
            ("newMessage", "zero"), ("newMessage", "m1"), ("newMessage", "m2"),
            ("newMessage", "m3")]
        assert len(texts_of(rest)) == 3
    finally:
        services.hub.disconnected(conn)


async def test_a_big_batch_asked_again_after_a_stall_is_delivered_in_one_pass(
        client, services, flaky, monkeypatch):
    """After a stall, a batch whose answer was lost is asked again, answered, and delivered
    as any batch: in one delivery pass (answered ANSWER_CHUNK per turn of the loop), never
    outside one. A batch of one message needs none: it gives each socket one frame."""
    a, b = await friends(client, services)
    passes: list[list[str]] = []
    outside: list[str] = []
    in_pass = False

    @contextmanager
    def recorded_pass():
        nonlocal in_pass
        passes.append([])
        in_pass = True
        try:
            yield
        finally:
            in_pass = False

    chat, store, insert = flaky(delivery_pass=recorded_pass)
    c = await chat.open_direct(a, b)
    hub_posted = chat.publisher.message_posted
    monkeypatch.setattr(chat.publisher, "message_posted", lambda m, conv: (
        (passes[-1] if in_pass else outside).append(m.text), hub_posted(m, conv)))
    loop = asyncio.get_running_loop()
    held, release = loop.create_future(), loop.create_future()
    asked: set[str] = set()

    async def answer_lost(docs) -> None:  # written; the first ask's answer never comes
        await write(docs)
        if not held.done():  # the first commit waits: the rest queue behind it
            held.set_result(None)
            await release
        if docs[0]["_id"] not in asked:
            asked.add(docs[0]["_id"])
            raise NetworkTimeout("the answer was lost")

    insert.failure = answer_lost
    sends = [await chat.submit_message(a, c.id, client_id="k0", text="m0")]
    await held
    for n in range(1, 41):
        sends.append(await chat.submit_message(a, c.id, client_id=f"k{n}", text=f"m{n}"))
    release.set_result(None)
    await asyncio.gather(*sends, return_exceptions=True)
    insert.failure = None
    await chat.send_message(b, c.id, client_id="next", text="next")
    # m0 alone (asked again), then m1-m40 (asked again too) in one pass, then "next".
    assert outside == ["m0", "next"]
    assert passes == [[f"m{n}" for n in range(1, 41)]]
