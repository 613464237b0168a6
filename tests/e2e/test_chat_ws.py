"""Chat end to end: a real server, real WebSocket clients."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json

import pytest
import websockets

from nirvana.security import JwtAccessTokens

from tests.support.chat_client import Client
from tests.support.people import befriend, block, user


async def pair(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    return a, b


async def test_two_friends_chat_live(live):
    a, b = await pair(live)
    ca = await Client.connect(live.ws, a)
    cb = await Client.connect(live.ws, b)
    assert ca.hello["version"] == 1 and ca.hello["limits"]["max_frame_bytes"] > 0
    opened = await ca.command("open_direct", user_id=b["id"])
    cid = opened["conversation"]["id"]
    ack = await ca.command("send", conversation_id=cid, client_id="m1", text="hello")
    assert ack["type"] == "ack" and ack["message"]["seq"] == 1 and ack["duplicate"] is False
    got = await cb.expect("newMessage")
    assert got["message"]["text"] == "hello" and got["pos"] == ack["message"]["pos"]
    # No conversation.updated follows a new message: the client derives the chat list
    # from newMessage (docs/protocol.md), and that matches the server's list.
    listed = await cb.command("conversations")
    (conversation,) = listed["conversations"]
    assert conversation["last_seq"] == got["message"]["seq"] == 1
    assert conversation["unread"] == got["message"]["seq"] - 0  # b has read nothing
    assert conversation["last_message"]["text"] == "hello"
    assert not any(f["type"] == "conversation.updated" for f in cb.backlog)
    await ca.close(), await cb.close()


async def test_strangers_and_blocked_users_cannot_chat(live):
    a, b = await user(live.http), await user(live.http)
    ca = await Client.connect(live.ws, a)
    err = await ca.command("open_direct", user_id=b["id"])
    assert err["type"] == "error" and err["code"] == "not_friends"
    await befriend(live.services, a["id"], b["id"])
    await block(live.services, b["id"], a["id"])
    err = await ca.command("open_direct", user_id=b["id"])
    assert err["code"] == "blocked"
    r = await live.http.post(f"/api/messages/send/{b['id']}", json={"text": "hi"},
                             headers={"Authorization": f"Bearer {a['jwt']}"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "blocked"
    await ca.close()


async def test_duplicate_send_ids_store_and_deliver_once(live):
    a, b = await pair(live)
    ca = await Client.connect(live.ws, a)
    cb = await Client.connect(live.ws, b)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    first = await ca.command("send", conversation_id=cid, client_id="same", text="once")
    again = await ca.command("send", conversation_id=cid, client_id="same", text="once")
    assert again["duplicate"] is True and again["message"]["id"] == first["message"]["id"]
    await ca.command("send", conversation_id=cid, client_id="next", text="two")
    seen = [(await cb.expect("newMessage"))["message"]["client_id"] for _ in range(2)]
    assert seen == ["same", "next"]
    history = await cb.command("history", conversation_id=cid)
    assert [m["seq"] for m in history["messages"]] == [1, 2]
    await ca.close(), await cb.close()


async def test_non_member_cannot_read_or_write(live):
    a, b = await pair(live)
    c = await user(live.http)
    ca = await Client.connect(live.ws, a)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    await ca.command("send", conversation_id=cid, client_id="x", text="secret")
    cc = await Client.connect(live.ws, c)
    assert (await cc.command("history", conversation_id=cid))["code"] == "not_member"
    err = await cc.command("send", conversation_id=cid, client_id="y", text="intrude")
    assert err["code"] == "not_member"
    r = await live.http.get(f"/api/v1/conversations/{cid}/messages",
                            headers={"Authorization": f"Bearer {c['jwt']}"})
    assert r.status_code == 403
    await ca.close(), await cc.close()


async def test_invalid_json_and_unknown_command_get_error_frames(live):
    a = await user(live.http)
    ca = await Client.connect(live.ws, a)
    await ca.ws.send("{not json")
    err = await ca.expect("error")
    assert err["code"] == "invalid_json"
    await ca.ws.send(json.dumps({"type": "launch", "id": "q1"}))
    err = await ca.expect("error", id="q1")
    assert err["code"] == "unknown_command"
    assert (await ca.command("ping"))["type"] == "pong"  # still open
    await ca.close()


async def test_oversized_frame_closes_1009(live):
    a = await user(live.http)
    ca = await Client.connect(live.ws, a, max_size=None)
    limit = ca.hello["limits"]["max_frame_bytes"]
    await ca.ws.send(json.dumps({"type": "ping", "id": "big", "pad": "x" * limit}))
    with pytest.raises(websockets.ConnectionClosed) as info:
        for _ in range(10):
            await ca.recv()
    assert info.value.rcvd.code == 1009


async def test_flood_gets_rate_limited_then_closed_1008(live):
    a = await user(live.http)
    ca = await Client.connect(live.ws, a)

    async def flood() -> None:
        # Bursts well above 20/s, until the close: past the 200 refusals of the grace.
        for i in range(150):
            for j in range(50):
                await ca.ws.send(json.dumps({"type": "ping", "id": f"f{i}.{j}"}))
            await asyncio.sleep(0.1)

    codes, close = await _error_codes_until_closed(ca, flood(), within=None)
    assert "rate_limited" in codes
    assert close == 1008


async def test_an_on_off_flood_is_closed_1008_within_the_window(live):
    # Bursts of 250 every 2 s: the pause refills the grace by 40 only, so the second burst
    # is counted (read as one backlog with the first, it is counted too).
    a = await user(live.http)
    ca = await Client.connect(live.ws, a)

    async def flood() -> None:
        for burst in range(4):
            for i in range(250):
                await ca.ws.send(json.dumps({"type": "ping", "id": f"o{burst}.{i}"}))
            await asyncio.sleep(2)

    # Within the abuse window (10 s): a flood given a new grace per burst would never be
    # closed, and time out there.
    codes, close = await _error_codes_until_closed(ca, flood(), within=10)
    # Only the close within the window is asserted: how many refusals came first depends on
    # how the server's reads fall against the bursts, which load changes.
    assert "rate_limited" in codes
    assert close == 1008


async def test_a_backlog_sent_at_once_is_answered_and_the_socket_stays_open(live):
    # What a client sending 15/s has queued when its instance or network stalls for 5 s.
    a = await user(live.http)
    ca = await Client.connect(live.ws, a)
    for i in range(75):
        await ca.ws.send(json.dumps({"type": "ping", "id": f"b{i}"}))
    answers = {}
    while len(answers) < 75:
        event = await ca.recv()
        if (event.get("id") or "").startswith("b"):
            answers[event["id"]] = event.get("code", event["type"])
    assert list(answers.values()).count("rate_limited") == 75 - 40
    await asyncio.sleep(1)
    pong = await ca.command("ping")
    assert pong["type"] == "pong"
    await ca.close()


async def test_foreign_origin_with_cookie_is_refused_before_accept(live):
    a = await user(live.http)
    cookie = {"Cookie": f"jwt={a['jwt']}"}
    # A foreign Origin, or none (a non-browser client sending the cookie): HTTP 403 with
    # the error in the one shape, as on every HTTP route.
    for origin in ("https://evil.example", None):
        with pytest.raises(websockets.InvalidStatus) as info:
            await websockets.connect(live.ws, origin=origin, additional_headers=cookie)
        refused = info.value.response
        assert refused.status_code == 403
        assert refused.headers["Content-Type"] == "application/json"
        assert json.loads(refused.body)["error"]["code"] == "origin_not_allowed"
    ok = await websockets.connect(live.ws, origin="http://testserver",
                                  additional_headers=cookie)
    assert json.loads(await ok.recv())["type"] == "hello"
    await ok.close()
    # A token needs no Origin (what a non-browser client sends), even beside the cookie.
    ok = await websockets.connect(f"{live.ws}?token={a['jwt']}", additional_headers=cookie)
    assert json.loads(await ok.recv())["type"] == "hello"
    await ok.close()


async def test_bad_token_closes_4001(live):
    ws = await websockets.connect(f"{live.ws}?token=nonsense")
    with pytest.raises(websockets.ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 3)
    assert info.value.rcvd.code == 4001


async def test_logout_closes_the_socket_4001(live):
    a = await user(live.http)
    ca = await Client.connect(live.ws, a)
    r = await live.http.post("/api/v1/user/logout", json={},
                             headers={"Authorization": f"Bearer {a['jwt']}"})
    assert r.status_code == 204
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await ca.recv()
    assert info.value.rcvd.code == 4001 and info.value.rcvd.reason == "session revoked"


async def test_a_socket_closes_4001_when_its_token_expires(live):
    a = await user(live.http)
    # Signed with the secret the test services are built with (tests/conftest.py).
    short = JwtAccessTokens("t" * 48, live.services.clock, ttl=timedelta(seconds=2))
    token, _ = short.issue(a["id"], "session-of-a-short-token")
    ca = await Client.connect(live.ws, {**a, "jwt": token})
    # Nothing else would close this idle socket: the sweep (every second) must, once the
    # token has expired. The deadline leaves a busy machine seconds of slack.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2 + live.services.session_watch.interval + 5
    with pytest.raises(websockets.ConnectionClosed) as info:
        while True:
            await ca.recv(timeout=max(0.0, deadline - loop.time()))
    assert info.value.rcvd.code == 4001 and info.value.rcvd.reason == "token expired"


async def test_only_the_ws_path_is_a_websocket(live):
    """/ws skips the HTTP middleware (app.NirvanaApp); any other path is still routed, and
    refused, with the query string and token of a real client."""
    a = await user(live.http)
    with pytest.raises(websockets.InvalidStatus) as info:
        await websockets.connect(live.ws.replace("/ws", "/ws/other") + f"?token={a['jwt']}")
    assert info.value.response.status_code == 403
    ok = await websockets.connect(f"{live.ws}?token={a['jwt']}")
    assert json.loads(await ok.recv())["type"] == "hello"
    await ok.close()


async def _error_codes_until_closed(client: Client, flood, within: float | None
                                    ) -> tuple[list, int]:
    """Runs `flood` while reading every frame until the server closes the socket (a
    TimeoutError after `within` seconds): the frames' `code`s and the close code."""
    flooding = asyncio.create_task(flood)
    codes = []
    try:
        with pytest.raises(websockets.ConnectionClosed) as info:
            async with asyncio.timeout(within):
                while True:
                    event = await client.recv()
                    codes.append(event.get("code"))
    finally:
        flooding.cancel()
        await asyncio.gather(flooding, return_exceptions=True)
    return codes, info.value.rcvd.code
