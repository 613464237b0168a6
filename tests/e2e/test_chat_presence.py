"""Typing, presence (two devices, dead sockets), live profile changes, the resume window."""

from __future__ import annotations

import asyncio
import base64
import os
from datetime import datetime, timedelta, timezone

import httpx

from nirvana.app import create_app
from tests.support.chat_client import Client
from tests.support.people import befriend, user
from tests.support.servers import TEST_ORIGIN, start_server

HEARTBEAT_TIMEOUT = 3.0


async def connect(live, u) -> Client:
    return await Client.connect(live.ws, u, max_queue=None)


async def test_typing_is_throttled_expires_and_reaches_members_only(live):
    live.services.hub.typing_tracker.ttl = 0.3
    a, b, c = await user(live.http), await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca, cb, cc = await connect(live, a), await connect(live, b), await connect(live, c)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    for _ in range(3):  # each acked, one broadcast (throttle 2 s)
        assert (await ca.command("typing", conversation_id=cid))["type"] == "ack"
    start = await cb.expect("typing", active=True)
    assert start["user_id"] == a["id"]
    stop = await cb.expect("typing", active=False)  # expired by itself
    assert stop["conversation_id"] == cid
    assert not [e for e in cb.backlog if e["type"] == "typing"]
    # Now an indicator that cannot expire during the test: only the disconnect can stop it.
    live.services.hub.typing_tracker.ttl = 600
    await ca.command("typing", conversation_id=cid)
    await cb.expect("typing", active=True)
    await ca.close()  # the typist's only device leaves: stop at once
    await cb.expect("typing", active=False)
    await cc.command("ping")
    assert not [e for e in cc.backlog if e["type"] == "typing"]
    await cb.close(), await cc.close()


async def test_typing_stops_crossing_a_block_either_way(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca, cb = await connect(live, a), await connect(live, b)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    r = await live.http.post(f"/api/v1/blocks/{b['id']}",
                             headers={"Authorization": f"Bearer {a['jwt']}"})
    assert r.status_code == 201
    for typist, other in ((cb, ca), (ca, cb)):  # the blocked one, then the blocker
        other.backlog.clear()
        assert (await typist.command("typing", conversation_id=cid, active=True))["type"] \
            == "ack"
        await other.command("ping")  # frames arrive in order: any typing would be in by now
        assert not [e for e in other.backlog if e["type"] == "typing" and e["active"]]
    await ca.close(), await cb.close()


async def test_presence_with_two_devices_visible_to_friends_only(live):
    a, b, stranger = await user(live.http), await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    cb = await connect(live, b)
    cs = await connect(live, stranger)
    phone, laptop = await connect(live, a), await connect(live, a)
    assert (await cb.expect("presence", user_id=a["id"]))["state"] == "online"
    assert (await phone.command("presence", state="busy"))["type"] == "ack"
    assert (await cb.expect("presence", user_id=a["id"]))["state"] == "busy"
    await laptop.expect("presence", state="busy")  # the user's own other device too
    await phone.close()  # still online: the laptop is connected
    asked = await cb.command("presence_of", user_ids=[a["id"], stranger["id"]])
    assert [(p["user_id"], p["state"]) for p in asked["presence"]] == [(a["id"], "busy")]
    await laptop.close()
    gone = await cb.expect("presence", user_id=a["id"], state="offline")
    assert gone["last_seen"]
    await cs.command("ping")
    assert not [e for e in cs.backlog if e["type"] == "presence" and e["user_id"] == a["id"]]
    r = await live.http.get("/api/v1/presence", params={"user_ids": f"{a['id']}"},
                            headers={"Authorization": f"Bearer {b['jwt']}"})
    assert r.json()["presence"][0]["state"] == "offline"
    assert r.json()["presence"][0]["last_seen"] == gone["last_seen"]  # stored
    await cb.close(), await cs.close()


async def test_profile_changes_reach_friends_live(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    cb = await connect(live, b)
    r = await live.http.patch("/api/v1/user/me", json={"name": "New Name", "status": "hiking"},
                              headers={"Authorization": f"Bearer {a['jwt']}"})
    assert r.status_code == 200
    event = await cb.expect("profile.updated")
    assert event["user"]["id"] == a["id"] and event["user"]["name"] == "New Name"
    assert event["user"]["status"] == "hiking"
    await cb.close()


async def test_hello_states_the_resume_window_and_pruned_events_force_resync(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await connect(live, a)
    window = ca.hello["resume_window"]
    assert window == {"max_events": 5000, "seconds": 7 * 24 * 3600.0}
    since = ca.hello["head"]
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    await ca.command("send", conversation_id=cid, client_id="1", text="x")
    await ca.command("edit", conversation_id=cid, seq=1, text="y")
    assert (await ca.command("resume", since=since))["type"] == "resumed"  # floor read
    store = live.services.chat._changes
    assert await store.prune_events(datetime.now(timezone.utc) + timedelta(seconds=1)) == 1
    answer = await ca.command("resume", since=since)
    assert answer["type"] == "resync_required"
    assert (await ca.command("resume", since=answer["head"]))["type"] == "resumed"
    await ca.close()


async def test_a_dead_client_is_dropped_by_the_heartbeat_and_goes_offline(services, settings):
    # The heartbeat also pings the test's own live client, in this same event loop: a
    # timeout of seconds keeps it answering on a busy machine, while the dead one is dropped.
    server, task, port = await start_server(create_app(settings, services),
                                            services.ws_limits.max_frame_bytes,
                                            settings=settings, ws_ping_interval=0.5,
                                            ws_ping_timeout=HEARTBEAT_TIMEOUT)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                 headers={"Origin": TEST_ORIGIN}) as http:
        a, b = await user(http), await user(http)
    await befriend(services, a["id"], b["id"])
    cb = await Client.connect(f"ws://127.0.0.1:{port}/ws", b, max_queue=None)
    # A client that completes the upgrade and then never reads nor answers a ping.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /ws?token={a['jwt']} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    await writer.drain()
    assert b"101" in await reader.readline()
    assert (await cb.expect("presence", user_id=a["id"]))["state"] == "online"
    offline = await cb.expect("presence", user_id=a["id"], timeout=3 * HEARTBEAT_TIMEOUT)
    assert offline["state"] == "offline"
    assert not services.hub.online(a["id"])
    writer.close()
    await cb.close()
    await services.before_shutdown()
    server.should_exit = True
    await task
    await services.chat_store.close()


async def test_a_device_opened_as_the_last_one_closes_is_not_told_its_user_is_offline(live):
    """The last device's offline announcement is made after a store write: a socket its user
    opens meanwhile starts with hello, getOnlineUsers and its user's presence `online`, in
    that order (docs/protocol.md, *Connecting*), and is never told its user went offline."""
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    cb = await connect(live, b)
    for _ in range(5):
        old = await connect(live, a)
        await old.close()
        new = await connect(live, a)
        first = [await new.recv(), await new.recv()]
        assert [(f["type"], f.get("state")) for f in first] == [
            ("getOnlineUsers", None), ("presence", "online")]
        await new.command("ping")
        assert not [e for e in new.backlog if e["type"] == "presence"]
        await new.close()
    await cb.close()
