"""Delivery guarantees end to end: resume, restarts, slow consumers, HTTP seed routes."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
import websockets

from nirvana.app import create_app
from nirvana.bootstrap import build_services
from nirvana.ws.protocol import Limits
from tests.support.chat_client import Client
from tests.support.people import befriend, user
from tests.support.servers import start_server


async def setup_pair(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    return a, b, ca, cid


async def test_reconnect_and_resume_misses_nothing_and_repeats_nothing(live):
    a, b, ca, cid = await setup_pair(live)
    cb = await Client.connect(live.ws, b)
    await ca.command("send", conversation_id=cid, client_id="1", text="one")
    last = (await cb.expect("newMessage"))["pos"]
    await cb.close()
    for i in range(2, 6):  # sent while b is away
        await ca.command("send", conversation_id=cid, client_id=str(i), text=str(i))
    reconnect = asyncio.create_task(Client.connect(live.ws, b, since=last))
    # A message sent while b reconnects arrives exactly once, after the replayed ones.
    await ca.command("send", conversation_id=cid, client_id="6", text="6")
    cb = await reconnect
    texts = []
    while len(texts) < 5:
        texts.append((await cb.expect("newMessage"))["message"]["text"])
    assert texts == ["2", "3", "4", "5", "6"]
    assert (await cb.expect("resumed")).get("id") is None  # answers no command
    assert (await cb.command("ping"))["type"] == "pong"
    assert not [e for e in cb.backlog if e["type"] == "newMessage"]
    await ca.close(), await cb.close()


async def test_resume_command_after_live_events_repeats_nothing(live):
    a, b, ca, cid = await setup_pair(live)
    cb = await Client.connect(live.ws, b)
    await ca.command("send", conversation_id=cid, client_id="1", text="one")
    last = (await cb.expect("newMessage"))["pos"]
    await cb.close()
    for i in range(2, 6):
        await ca.command("send", conversation_id=cid, client_id=str(i), text=str(i))
    cb = await Client.connect(live.ws, b)
    await ca.command("send", conversation_id=cid, client_id="6", text="6")
    await cb.expect("newMessage")  # "6", live, before the client asked to resume
    assert (await cb.command("resume", since=last))["type"] == "resumed"
    await ca.command("send", conversation_id=cid, client_id="7", text="7")
    texts = ["6"]
    while len(texts) < 6:
        texts.append((await cb.expect("newMessage"))["message"]["text"])
    assert sorted(texts, key=int) == ["2", "3", "4", "5", "6", "7"]  # each exactly once
    assert texts[1:5] == ["2", "3", "4", "5"]  # the replay itself is in order
    assert (await cb.command("ping"))["type"] == "pong"
    assert not [e for e in cb.backlog if e["type"] == "newMessage"]
    await ca.close(), await cb.close()


async def test_a_resume_from_beyond_the_head_says_resync_required_and_misses_nothing_live(
        live):
    """A position the server never committed (its store lost writes, or was restored): a
    resume from it cannot be complete, so it is never answered `resumed`; and the events
    that follow still arrive live."""
    a, b, ca, cid = await setup_pair(live)
    await ca.command("send", conversation_id=cid, client_id="1", text="one")
    head = ca.hello["head"] + 1
    cb = await Client.connect(live.ws, b, since=head + 125)  # the campaign's device
    answer = await cb.expect("resync_required")
    assert answer.get("id") is None and answer["head"] == head
    await ca.command("send", conversation_id=cid, client_id="2", text="two")
    got = await cb.expect("newMessage")
    assert (got["message"]["text"], got["pos"]) == ("two", head + 1)

    answer = await cb.command("resume", since=head + 2)  # the command, likewise
    assert answer["type"] == "resync_required" and answer["head"] == head + 1
    assert (await cb.command("resume", since=head + 1))["type"] == "resumed"
    assert not [e for e in cb.backlog if e["type"] == "resumed"]
    await ca.close(), await cb.close()


async def test_resume_beyond_the_window_says_resync_required(live):
    a, b, ca, cid = await setup_pair(live)
    live.services.chat.limits = type(live.services.chat.limits)(resume_window=3)
    for i in range(5):
        await ca.command("send", conversation_id=cid, client_id=f"w{i}", text="x")
    cb = await Client.connect(live.ws, b)
    answer = await cb.command("resume", since=0)
    assert answer["type"] == "resync_required" and answer["head"] >= 5
    await ca.close(), await cb.close()


async def test_resume_after_a_server_restart(live, stores, settings):
    a, b, ca, cid = await setup_pair(live)
    cb = await Client.connect(live.ws, b)
    await ca.command("send", conversation_id=cid, client_id="before", text="before")
    last = (await cb.expect("newMessage"))["pos"]
    await ca.command("send", conversation_id=cid, client_id="missed", text="missed")
    await ca.close(), await cb.close()

    # A second server process: fresh services on the same stores, nothing in memory.
    pool, mongo = stores
    services = build_services(settings, pool, mongo, secret="t" * 48)
    server, task, port = await start_server(create_app(settings, services), 65536)
    try:
        cb = await Client.connect(f"ws://127.0.0.1:{port}/ws", b)
        assert cb.hello["head"] >= last + 1
        await cb.command("resume", since=last)
        got = await cb.expect("newMessage")
        assert got["message"]["text"] == "missed"
        ca = await Client.connect(f"ws://127.0.0.1:{port}/ws", a)
        ack = await ca.command("send", conversation_id=cid, client_id="after", text="after")
        assert ack["message"]["seq"] == 3 and ack["message"]["pos"] > got["pos"]
        await ca.close(), await cb.close()
    finally:
        server.should_exit = True
        await task
        await services.chat_store.close()


@pytest.fixture
def ws_limits():
    # A generous command rate: the sender here floods on purpose.
    return Limits(outgoing_queue=8, commands_per_second=10_000, command_burst=10_000)


@pytest.fixture
def server_sndbuf():
    return 8192


async def test_a_client_that_stops_reading_is_closed_4008(live):
    a, b, ca, cid = await setup_pair(live)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(live.base.rsplit(":", 1)[1])))
    slow = await websockets.connect(f"{live.ws}?token={b['jwt']}", sock=sock, max_queue=1,
                                    max_size=None)
    text = "y" * 3900
    closed_code = None
    for i in range(600):
        await ca.command("send", conversation_id=cid, client_id=f"s{i}", text=text)
        # Closed, or already gone from the hub: the close was written at once.
        still_open = [c for c in live.services.hub.connections()
                      if c.user_id == b["id"] and c.close_request is None]
        if not still_open:
            break
    # Now read: what was buffered arrives, then the close; nothing was kept without bound.
    try:
        while True:
            await asyncio.wait_for(slow.recv(), 5)
    except websockets.ConnectionClosed as exc:
        closed_code = exc.rcvd.code if exc.rcvd else None
    assert closed_code == 4008
    assert i < 400  # closed well before everything was sent: the buffers are bounded
    await ca.close(), await slow.close()


async def test_seed_routes_send_and_history_and_friends(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    cb = await Client.connect(live.ws, b)
    auth = {"Authorization": f"Bearer {a['jwt']}"}
    users = await live.http.get("/api/messages/users", headers=auth)
    assert users.status_code == 200
    assert [(u["id"], u["online"]) for u in users.json()] == [(b["id"], True)]
    r = await live.http.post(f"/api/messages/send/{b['id']}",
                             json={"text": "hi", "image": "https://img.example/x.png"},
                             headers=auth)
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "image" and r.json()["attachments"][0]["kind"] == "image"
    live_event = await cb.expect("newMessage")
    assert live_event["message"]["id"] == r.json()["id"]
    history = await live.http.get(f"/api/messages/{b['id']}", headers=auth)
    assert [m["text"] for m in history.json()] == ["hi"]
    convs = await live.http.get("/api/v1/conversations",
                                headers={"Authorization": f"Bearer {b['jwt']}"})
    (conv,) = convs.json()["conversations"]
    assert conv["unread"] == 1 and conv["last_message"]["text"] == "hi"
    read = await live.http.post(f"/api/v1/conversations/{conv['id']}/read", json={"seq": 1},
                                headers={"Authorization": f"Bearer {b['jwt']}"})
    assert read.json()["unread"] == 0
    await cb.close()


async def test_online_friends_are_announced(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a)
    assert (await ca.expect("getOnlineUsers"))["user_ids"] == []
    cb = await Client.connect(live.ws, b)
    assert (await ca.expect("getOnlineUsers"))["user_ids"] == [b["id"]]
    assert (await cb.expect("getOnlineUsers"))["user_ids"] == [a["id"]]
    await cb.close()
    assert (await ca.expect("getOnlineUsers"))["user_ids"] == []
    await ca.close()


async def test_ws_schema_is_served(live):
    r = await live.http.get("/api/v1/ws/schema")
    assert r.status_code == 200 and "Send" in json.dumps(r.json()["$defs"])
