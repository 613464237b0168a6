"""The WebSocket's documented edges (docs/protocol.md, "Connecting", "Errors", "Close
codes"): the per-user socket cap, Bearer on the upgrade, a malformed `since`, a binary
frame, an internal error, a replay the client stops reading, a reused client_id, a command
sent in fragments."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import replace

import httpx
import pytest
import websockets

from nirvana.app import create_app
from nirvana.ws import connection
from nirvana.ws.protocol import Limits
from tests.support.chat_client import WAIT, Client
from tests.support.people import befriend, user
from tests.support.servers import TEST_ORIGIN, start_server
from tests.support.waiting import wait_until

SOCKETS_PER_USER = 3


@pytest.fixture
def ws_limits():
    # A small outgoing queue lets a stalled replay fill it with a few hundred frames.
    return Limits(sockets_per_user=SOCKETS_PER_USER, outgoing_queue=16)


@pytest.fixture
def server_sndbuf():
    return 8192


async def _closed(ws) -> websockets.frames.Close:
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await ws.recv()
    return info.value.rcvd


async def test_one_socket_past_the_per_user_cap_is_closed_4029(live):
    a = await user(live.http)
    devices = [await Client.connect(live.ws, a) for _ in range(SOCKETS_PER_USER)]
    extra = await websockets.connect(f"{live.ws}?token={a['jwt']}")
    close = await _closed(extra)
    assert (close.code, close.reason) == (4029, "too many open sockets")
    await devices.pop().close()
    await wait_until(lambda: live.services.hub.count(a["id"]) < SOCKETS_PER_USER,
                     "the closed device to leave the hub")
    again = await Client.connect(live.ws, a)  # a freed place is a place again
    assert again.hello["user_id"] == a["id"]
    for c in [*devices, again]:
        await c.close()


async def test_an_upgrade_arriving_once_the_stop_began_is_closed_1001_without_a_hello(live):
    """run.py stops listening before it calls before_shutdown, but an upgrade the listener
    took already still arrives: it gets the open sockets' close (1001 with the stop's
    reason) and no hello, not a hello and then uvicorn's bare 1012. The listener stays open
    here to send one."""
    a = await user(live.http)
    await live.services.before_shutdown()
    late = await websockets.connect(f"{live.ws}?token={a['jwt']}")
    frames = []
    with pytest.raises(websockets.ConnectionClosed) as closed:
        while True:
            frames.append(await asyncio.wait_for(late.recv(), WAIT))
    assert frames == []
    close = closed.value.rcvd
    assert close is not None
    assert (close.code, close.reason) == (1001, "server stopping; reconnect and resume")
    assert live.services.hub.count(a["id"]) == 0


class FirstReadHeld:
    """The other instances as an instance that just started sees them: nothing known until
    its first read of their sets, which a test answers (`done`). Nobody is online there. It
    stands in for `HubAcrossInstances` over Redis (the hub's `elsewhere` seam), so the read
    can be held for as long as a test needs; the real `FirstRead` wait is covered by
    tests/unit/test_hub_across_instances.py."""

    def __init__(self) -> None:
        self.done = asyncio.Event()

    async def settled(self) -> None:
        await self.done.wait()

    def online(self, user_id: int) -> bool:
        return False

    def online_users(self) -> list[int]:
        return []

    def frame(self, user_ids, text: str, pos: int | None) -> None:
        pass

    def came_online(self, user_id: int, friends: set[int], *, began: bool = False) -> None:
        pass

    def went_offline(self, user_id: int, friends: set[int]) -> None:
        pass

    def relation_changed(self, a: int, b: int, friends: bool) -> None:
        pass


async def test_the_per_user_cap_holds_for_connects_that_wait_for_the_first_read(live):
    a = await user(live.http)
    live.services.hub.elsewhere = held = FirstReadHeld()
    try:
        sockets = [await websockets.connect(f"{live.ws}?token={a['jwt']}")
                   for _ in range(SOCKETS_PER_USER + 1)]  # all accepted, all waiting
        held.done.set()
        outcomes = []
        for ws in sockets:
            try:
                outcomes.append(json.loads(await asyncio.wait_for(ws.recv(), WAIT))["type"])
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None
                outcomes.append(closed.rcvd.code)
        assert sorted(map(str, outcomes)) == ["4029"] + ["hello"] * SOCKETS_PER_USER
        assert live.services.hub.count(a["id"]) == SOCKETS_PER_USER
        for ws in sockets:
            await ws.close()
    finally:
        live.services.hub.elsewhere = None


async def test_a_connect_waiting_for_the_first_read_when_the_stop_begins_is_closed_1001(live):
    a = await user(live.http)
    live.services.hub.elsewhere = held = FirstReadHeld()
    try:
        waiting = await websockets.connect(f"{live.ws}?token={a['jwt']}")
        await live.services.before_shutdown()
        held.done.set()
        frames = []
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                frames.append(await asyncio.wait_for(waiting.recv(), WAIT))
        assert frames == []
        close = closed.value.rcvd
        assert close is not None
        assert (close.code, close.reason) == (1001, "server stopping; reconnect and resume")
        assert live.services.hub.count(a["id"]) == 0
    finally:
        live.services.hub.elsewhere = None


async def test_a_bearer_header_authenticates_the_upgrade(live):
    a = await user(live.http)
    ws = await websockets.connect(live.ws,
                                  additional_headers={"Authorization": f"Bearer {a['jwt']}"})
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello" and hello["user_id"] == a["id"]
    await ws.close()
    bad = await websockets.connect(live.ws, additional_headers={"Authorization": "Bearer x"})
    assert (await _closed(bad)).code == 4001


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "", "9" * 19])
async def test_a_malformed_since_closes_1008(live, since):
    a = await user(live.http)
    ws = await websockets.connect(f"{live.ws}?token={a['jwt']}&since={since}")
    close = await _closed(ws)
    assert (close.code, close.reason) == (1008, "since must be a non-negative integer")


async def test_a_binary_frame_is_answered_and_the_socket_stays_open(live):
    a = await user(live.http)
    ca = await Client.connect(live.ws, a)
    await ca.ws.send(b'{"type": "ping", "id": "p"}')
    error = await ca.expect("error")
    # Unreadable, so it answers no request: the id is left out (encode drops nulls).
    assert error["code"] == "binary_not_supported" and error.get("id") is None
    assert (await ca.command("ping"))["type"] == "pong"
    await ca.close()


class FailingSearch:
    """The chat service, except that search fails the way a bug does: no error table knows
    the exception."""

    def __init__(self, chat) -> None:
        self._chat = chat

    def __getattr__(self, name: str):
        return getattr(self._chat, name)

    async def search(self, *args, **kwargs):
        raise ZeroDivisionError("a bug")


async def test_an_internal_error_is_answered_then_closes_1011(services, settings):
    broken = replace(services, chat=FailingSearch(services.chat))
    server, task, port = await start_server(create_app(settings, broken),
                                            services.ws_limits.max_frame_bytes, settings=settings)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                     headers={"Origin": TEST_ORIGIN}) as http:
            a = await user(http)
        ca = await Client.connect(f"ws://127.0.0.1:{port}/ws", a)
        answer = await ca.command("search", q="anything")
        assert answer["type"] == "error" and answer["code"] == "internal_error"
        assert "a bug" not in answer["message"]  # no internals leak
        close = await _closed(ca.ws)
        assert close.code == 1011
    finally:
        await services.before_shutdown()
        server.should_exit = True
        await task


async def test_a_replay_the_client_stops_reading_closes_4008(live, monkeypatch):
    # The server's patience shortened (30 s in use), so the test waits seconds, not half a
    # minute: what is checked is that it gives up and how, not how long it waits.
    monkeypatch.setattr(connection, "REPLAY_PATIENCE", 3.0)
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a)
    since = ca.hello["head"]
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    # Closed now: a's own socket would be owed the same 600 KB and stall its close.
    await ca.close()
    # b is away: ~600 KB owed, far past the queue and the buffers. (Through the service: the
    # socket's command rate limit would refuse so many.)
    await asyncio.gather(*(live.services.chat.send_message(a["id"], cid, client_id=f"s{i}",
                                                           text="y" * 3900)
                           for i in range(150)))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", int(live.base.rsplit(":", 1)[1])))
    stalled = await websockets.connect(f"{live.ws}?token={b['jwt']}&since={since}", sock=sock,
                                       max_queue=1, max_size=None)

    def sockets_of_b():
        return [c for c in live.services.hub.connections() if c.user_id == b["id"]]

    await wait_until(lambda: sockets_of_b(), "b's socket to be registered")
    # Reads nothing: the replay waits REPLAY_PATIENCE seconds for room, then gives up (the
    # socket is closed at once and leaves the hub: its close is written ahead of time).
    await wait_until(lambda: all(c.close_request for c in sockets_of_b()),
                     "the stalled replay to be closed", timeout=connection.REPLAY_PATIENCE + 30)
    seen = 0
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(stalled.recv(), WAIT)
            seen += 1
    assert info.value.rcvd.code == 4008
    assert seen < 150  # the rest is the client's to resume, not buffered without bound


async def test_a_client_id_reused_for_another_conversation_is_refused(live):
    a, b, c = await user(live.http), await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    await befriend(live.services, a["id"], c["id"])
    ca = await Client.connect(live.ws, a)
    with_b = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    with_c = (await ca.command("open_direct", user_id=c["id"]))["conversation"]["id"]
    assert (await ca.command("send", conversation_id=with_b, client_id="k",
                             text="to b"))["type"] == "ack"
    refused = await ca.command("send", conversation_id=with_c, client_id="k", text="to c")
    assert refused["type"] == "error" and refused["code"] == "client_id_reused"
    history = await ca.command("history", conversation_id=with_c)
    assert history["messages"] == []
    r = await live.http.post(f"/api/v1/conversations/{with_c}/messages",
                             json={"client_id": "k", "text": "to c"},
                             headers={"Authorization": f"Bearer {a['jwt']}"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "client_id_reused"
    await ca.close()


async def test_a_command_sent_in_fragments_is_one_message(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca, cb = await Client.connect(live.ws, a), await Client.connect(live.ws, b)
    cid = await ca.open_direct(b)
    text = "fragments: h\u00e9, \u043f\u0440\u0438\u0432\u0435\u0442, \U0001f600"
    raw = json.dumps({"type": "send", "id": "frag", "conversation_id": cid,
                      "client_id": "f1", "text": text}, ensure_ascii=False).encode()
    # Cut inside the two-byte "é" and inside the four-byte emoji: a text message is UTF-8
    # as a whole, not fragment by fragment.
    e, smile = raw.index("\u00e9".encode()), raw.index("\U0001f600".encode())
    await ca.ws.send(iter([raw[:e + 1], raw[e + 1:smile + 2], raw[smile + 2:]]), text=True)
    ack = await ca.expect("ack", id="frag")
    assert ack["message"]["text"] == text
    got = await cb.expect("newMessage")
    assert got["message"]["text"] == text and got["message"]["client_id"] == "f1"
    assert (await ca.command("ping"))["type"] == "pong"  # the socket reads on after it
    await ca.close(), await cb.close()
