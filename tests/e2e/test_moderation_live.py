"""Moderation seen live: a removed chat message becomes a tombstone on every member's open
socket, its reporter is told at once, and a suspension closes the account's sockets."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from nirvana.domain.moderation.entities import Role
from tests.support.chat_client import Client
from tests.support.http import bearer, sign_up
from tests.support.moderation import act, signed_up_with_role
from tests.support.people import befriend


async def test_a_removed_message_is_a_tombstone_live_and_its_reporter_is_told(
        live, services, server_urls):
    a, b = await sign_up(live.http), await sign_up(live.http)
    await befriend(services, a["user"]["id"], b["user"]["id"])
    moderator = await signed_up_with_role(live.http, server_urls[0], Role.MODERATOR)
    on_a = await Client.connect(live.ws, {"id": a["user"]["id"], "jwt": a["jwt"]})
    on_b = await Client.connect(live.ws, {"id": b["user"]["id"], "jwt": b["jwt"]})
    conversation = await services.chat.open_direct(a["user"]["id"], b["user"]["id"])
    message, _ = await services.chat.send_message(a["user"]["id"], conversation.id,
                                                  client_id="m1", text="something vile")
    target = {"kind": "message", "conversation_id": conversation.id, "seq": message.seq}
    r = await live.http.post("/api/v1/reports", headers=bearer(b),
                             json={"target": target, "reason": "abuse"})
    assert r.status_code == 201, r.text

    r = await act(live.http, moderator, "remove_message", target, "abuse")
    assert r.status_code == 201, r.text
    for socket in (on_a, on_b):
        event = await socket.expect("message.deleted", seq=message.seq)
        assert event["scope"] == "everyone"
        assert event["message"]["deleted"] is True and event["message"]["text"] == ""
    told = await on_b.expect("notification")
    assert told["notification"]["kind"] == "report_handled"
    assert "removed the message" in told["notification"]["text"]
    await on_a.close()
    await on_b.close()


async def test_suspending_an_account_closes_its_open_sockets_at_once(live, server_urls):
    user = await sign_up(live.http)
    moderator = await signed_up_with_role(live.http, server_urls[0], Role.MODERATOR)
    socket = await Client.connect(live.ws, {"id": user["user"]["id"], "jwt": user["jwt"]})
    r = await act(live.http, moderator, "suspend", {"kind": "user", "id": user["user"]["id"]},
                  "spam")
    assert r.status_code == 201, r.text
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await asyncio.wait_for(socket.recv(), 5)
    assert info.value.rcvd.code == 4001 and info.value.rcvd.reason == "session revoked"
    with pytest.raises(websockets.ConnectionClosed):
        again = await Client.connect(live.ws, {"id": user["user"]["id"], "jwt": user["jwt"]})
        await asyncio.wait_for(again.recv(), 5)
