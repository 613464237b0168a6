"""permessage-deflate (RFC 7692) on /ws: declined unless WS_COMPRESSION is set.

`websockets.connect` offers it by default, as every browser does, so these clients ask the
question a browser asks.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.chat_client import Client
from tests.support.people import befriend, user


async def _chat(live) -> tuple[Client, Client]:
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    return await Client.connect(live.ws, a), await Client.connect(live.ws, b)


async def _exchange(ca: Client, cb: Client) -> None:
    opened = await ca.command("open_direct", user_id=cb.user["id"])
    text = "compressible " * 200  # longer than the threshold below which nothing compresses
    ack = await ca.command("send", conversation_id=opened["conversation"]["id"],
                           client_id="m1", text=text)
    assert ack["type"] == "ack"
    assert (await cb.expect("newMessage"))["message"]["text"] == text


async def test_offered_compression_is_declined_by_default(live):
    ca, cb = await _chat(live)
    for c in (ca, cb):
        assert c.ws.response.headers.get("Sec-WebSocket-Extensions") is None
        assert c.ws.protocol.extensions == []
    await _exchange(ca, cb)
    await ca.close(), await cb.close()


class TestWhenEnabled:
    @pytest.fixture
    def settings(self, settings):
        return replace(settings, ws_compression=True)

    async def test_compression_is_negotiated_and_chat_works(self, live):
        ca, cb = await _chat(live)
        for c in (ca, cb):
            assert "permessage-deflate" in c.ws.response.headers["Sec-WebSocket-Extensions"]
            assert len(c.ws.protocol.extensions) == 1
        await _exchange(ca, cb)
        await ca.close(), await cb.close()
