"""A resume may replay far more events than a connection's outgoing queue holds."""

from __future__ import annotations

import dataclasses

from tests.support.chat_client import Client
from tests.support.people import befriend, user
from tests.support.writes import many_writes

settings_with_many_writes = many_writes()  # 60 sends over HTTP by one user, in a row


async def test_resume_larger_than_the_outgoing_queue_replays_everything(live):
    live.services.ws_limits = dataclasses.replace(live.services.ws_limits, outgoing_queue=16)
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    head = (await ca.command("send", conversation_id=cid, client_id="m0", text="0"))
    since = head["message"]["pos"]
    # a's own socket would get every message too, overflow its 16 frames and be closed.
    await ca.close()
    for i in range(1, 61):  # in order, over HTTP: the same send path
        r = await live.http.post(f"/api/v1/conversations/{cid}/messages",
                                 json={"client_id": f"m{i}", "text": str(i)},
                                 headers={"Authorization": f"Bearer {a['jwt']}"})
        assert r.status_code == 201, r.text
    cb = await Client.connect(live.ws, b)
    answer = await cb.command("resume", since=since)
    assert answer["type"] == "resumed", answer
    texts = [e["message"]["text"] for e in cb.backlog if e["type"] == "newMessage"]
    assert sorted(texts, key=int) == [str(i) for i in range(1, 61)]
    assert texts == sorted(texts, key=int)  # in order
    assert (await cb.command("ping"))["type"] == "pong"  # still connected
    await cb.close()


async def test_a_message_sent_right_after_hello_is_delivered_live(live):
    # The socket is registered for live delivery before `hello` is sent: nothing committed
    # after `hello.head` can fall into a gap before registration.
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    for i in range(3):
        cb = await Client.connect(live.ws, b)
        r = await live.http.post(f"/api/v1/conversations/{cid}/messages",
                                 json={"client_id": f"h{i}", "text": f"h{i}"},
                                 headers={"Authorization": f"Bearer {a['jwt']}"})
        assert r.status_code == 201, r.text
        got = await cb.expect("newMessage")
        assert got["message"]["text"] == f"h{i}" and got["pos"] > cb.hello["head"]
        await cb.close()
    await ca.close()


async def test_online_lists_follow_friendship_and_block_at_once(live):
    a, b = await user(live.http), await user(live.http)
    ha = {"Authorization": f"Bearer {a['jwt']}"}
    hb = {"Authorization": f"Bearer {b['jwt']}"}
    ca, cb = await Client.connect(live.ws, a), await Client.connect(live.ws, b)
    r = await live.http.post(f"/api/v1/friends/requests/{b['id']}", headers=ha)
    assert r.status_code == 201, r.text
    r = await live.http.post(f"/api/v1/friends/requests/{a['id']}/accept", headers=hb)
    assert r.status_code == 201, r.text
    assert (await ca.expect("getOnlineUsers", user_ids=[b["id"]]))["user_ids"] == [b["id"]]
    r = await live.http.post(f"/api/v1/blocks/{a['id']}", headers=hb)
    assert r.status_code == 201, r.text
    # a no longer sees b online, without reconnecting.
    assert (await ca.expect("getOnlineUsers", user_ids=[]))["user_ids"] == []
    await ca.close(), await cb.close()
