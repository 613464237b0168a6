"""The benchmark's Socket.IO client for the seed peer, fed Engine.IO frames without a socket."""

from __future__ import annotations

import asyncio
import json

from bench.seed_peer import SocketIOAdapter, SocketIOConnection
from bench.ws_load import PADDING


class FakeSocket:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_text(self, text: str) -> None:
        self.sent.append(text)


async def test_the_client_opens_the_namespace_answers_pings_and_delivers_our_messages():
    adapter = SocketIOAdapter("http://127.0.0.1:1")
    got: list[str] = []
    conn = SocketIOConnection(adapter, "room-1", got.append)
    # The open frame may arrive with the handshake, before the socket is handed over.
    conn.on_text('0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000}')
    conn.ws = FakeSocket()  # type: ignore[assignment]
    assert conn.early == ["40"]
    conn.on_text('40{"sid":"b"}')
    assert conn.connected.done()
    conn.on_text("2")
    assert conn.ws.sent == ["3"]  # type: ignore[union-attr]
    ours = {"clientId": f"{adapter.nonce}|7:3", "text": PADDING}
    conn.on_text("42" + json.dumps(["newMessage", ours]))
    conn.on_text("42" + json.dumps(["newMessage", {"clientId": "other|7:4"}]))
    conn.on_text("42" + json.dumps(["typing", {}]))
    assert got == ["7:3"]
    assert adapter.frames == {"newMessage": 2, "typing": 1}


async def test_a_send_asks_for_an_ack_and_a_request_waits_for_its_own():
    adapter = SocketIOAdapter("http://127.0.0.1:1")
    conn = SocketIOConnection(adapter, "room-1", lambda key: None)
    conn.ws = FakeSocket()  # type: ignore[assignment]
    conn.send("1:2")
    event = conn.ws.sent[0]  # type: ignore[union-attr]
    assert event.startswith("420[")
    assert json.loads(event[3:]) == ["sendMessage", {
        "conversationId": "room-1", "clientId": f"{adapter.nonce}|1:2", "text": PADDING}]
    joining = asyncio.create_task(conn.request("joinConversation", "room-1"))
    await asyncio.sleep(0)
    assert conn.ws.sent[1] == '421["joinConversation","room-1"]'  # type: ignore[union-attr]
    conn.on_text('430[{"ok":false,"error":"boom"}]')  # the send's ack: counted, not waited
    conn.on_text('431[{"ok":true}]')
    assert await joining == [{"ok": True}]
    assert adapter.errors == {"boom": 1}
