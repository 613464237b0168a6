"""Pipelined sends on one socket: queued in command order, acked when durable."""

from __future__ import annotations

import json

import pytest

from nirvana.ws.protocol import Limits
from tests.support.chat_client import Client
from tests.support.people import befriend, user


@pytest.fixture
def ws_limits():
    return Limits(inflight_sends=4)


async def test_one_socket_pipelines_sends_in_order_with_bounded_in_flight(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a)
    conv = (await ca.command("open_direct", user_id=b["id"]))["conversation"]
    assert ca.hello["limits"]["inflight_sends"] == 4
    before = live.services.chat_store.batches
    for i in range(30):  # all written before any answer is read
        await ca.ws.send(json.dumps({"type": "send", "id": f"s{i}", "client_id": f"c{i}",
                                     "conversation_id": conv["id"], "text": f"m{i}"}))
    acks = {}
    while len(acks) < 30:
        event = await ca.recv()
        if event["type"] in ("ack", "error") and event.get("id", "").startswith("s"):
            acks[event["id"]] = event
    assert all(e["type"] == "ack" for e in acks.values())
    seqs = [acks[f"s{i}"]["message"]["seq"] for i in range(30)]
    assert seqs == list(range(1, 31))  # seqs follow command order
    # Not one commit per send: later sends were queued while earlier ones were written.
    assert live.services.chat_store.batches - before < 30
    await ca.close()


async def test_a_refused_send_is_answered_in_place_and_later_sends_go_on(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a)
    conv = (await ca.command("open_direct", user_id=b["id"]))["conversation"]
    bad = await ca.command("send", conversation_id="nope", client_id="x", text="hi")
    assert bad["type"] == "error" and bad["code"] == "not_member"
    ok = await ca.command("send", conversation_id=conv["id"], client_id="y", text="hi")
    assert ok["type"] == "ack" and ok["message"]["seq"] == 1
    await ca.close()
