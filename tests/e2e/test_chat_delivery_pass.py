"""Real sockets under delivery passes (ws/transport.py): when a commit holds several
messages, each member reads them all, complete and in order, over plain and compressed
sockets alike."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from tests.support.chat_client import Client
from tests.support.people import befriend, user
from tests.support.waiting import wait_until

SENDS = 30


async def _burst_arrives_in_order(live) -> None:
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca, cb = await Client.connect(live.ws, a), await Client.connect(live.ws, b)
    conv = (await ca.command("open_direct", user_id=b["id"]))["conversation"]
    store = live.services.chat_store
    # The writer is held by an op of its own while the sends queue, so they are committed
    # together whatever the machine's timing (a store that answers each send before the
    # next is read would commit them one by one: no pass).
    started, release = asyncio.Event(), asyncio.Event()

    async def hold(next_pos) -> None:
        started.set()
        await release.wait()
    holding = asyncio.create_task(store.serialized(hold, bounded=False))
    await started.wait()
    before = store.batches
    for i in range(SENDS):
        await ca.ws.send(json.dumps({"type": "send", "id": f"s{i}", "client_id": f"c{i}",
                                     "conversation_id": conv["id"], "text": f"m{i} " * 40}))
    await wait_until(lambda: len(store.writer._pending) == SENDS, "the sends queued")
    release.set()
    await holding
    got = [(await cb.expect("newMessage"))["message"] for _ in range(SENDS)]
    assert [(m["seq"], m["text"]) for m in got] == [
        (i + 1, f"m{i} " * 40) for i in range(SENDS)]
    assert store.batches - before < SENDS
    await ca.close(), await cb.close()


async def test_a_burst_reaches_a_member_complete_and_in_order(live):
    await _burst_arrives_in_order(live)


class TestCompressed:
    @pytest.fixture
    def settings(self, settings):
        return replace(settings, ws_compression=True)

    async def test_a_burst_reaches_a_compressed_member_complete_and_in_order(self, live):
        await _burst_arrives_in_order(live)
