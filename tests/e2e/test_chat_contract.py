"""What docs/protocol.md promises a client author, checked against a running server: who gets
`conversation.updated` after a receipt, the order of frames on connect, what a peer hears of
a direct conversation opened with it, and the 4001 reasons."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from tests.support.chat_client import Client
from tests.support.people import befriend, user


async def nothing_more(client: Client, type_: str) -> None:
    """No frame of `type_` is pending: a ping's pong comes after anything queued before it."""
    await client.command("ping")
    assert [e for e in client.backlog if e["type"] == type_] == []


async def test_a_read_updates_the_readers_devices_and_tells_the_others_by_receipt(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    phone, laptop = await Client.connect(live.ws, b), await Client.connect(live.ws, b)
    await ca.command("send", conversation_id=cid, client_id="m1", text="hi")
    await phone.expect("newMessage"), await laptop.expect("newMessage")

    ack = await phone.command("read", conversation_id=cid, seq=1)
    mine = {m["user_id"]: m for m in ack["conversation"]["members"]}[b["id"]]
    # A read raises the reader's delivered mark too, without a `delivered` receipt.
    assert (mine["read_seq"], mine["delivered_seq"], ack["conversation"]["unread"]) == (1, 1, 0)
    updated = await laptop.expect("conversation.updated")  # the reader's other device
    assert updated["conversation"]["unread"] == 0
    receipt = await ca.expect("receipt")  # the others learn it from the durable receipt
    assert (receipt["user_id"], receipt["kind"], receipt["seq"]) == (b["id"], "read", 1)
    await nothing_more(ca, "conversation.updated")
    await nothing_more(ca, "receipt")

    ack = await laptop.command("delivered", conversation_id=cid, seq=1)  # not past read
    assert ack["type"] == "ack"
    await nothing_more(ca, "receipt")  # nothing changed: no event
    for c in (ca, phone, laptop):
        await c.close()


async def test_frames_on_connect_come_in_the_documented_order(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    cb = await Client.connect(live.ws, b)
    cid = (await cb.command("open_direct", user_id=a["id"]))["conversation"]["id"]
    ca = await Client.connect(live.ws, a)
    since = ca.hello["head"]
    await ca.close()
    await cb.command("send", conversation_id=cid, client_id="m1", text="while away")
    ca = await Client.connect(live.ws, a, since=since)  # a's first device again
    frames = [ca.hello] + [await ca.recv() for _ in range(5)]
    assert [f["type"] for f in frames] == ["hello", "getOnlineUsers", "presence",
                                           "notifications.unread", "newMessage", "resumed"]
    assert frames[1]["user_ids"] == [b["id"]]
    assert (frames[2]["user_id"], frames[2]["state"]) == (a["id"], "online")
    assert frames[3]["unread"] == 0
    assert frames[5]["id"] is None
    second = await Client.connect(live.ws, a)  # not the first device: no presence of its own
    assert (await second.recv())["type"] == "getOnlineUsers"
    assert (await second.recv())["type"] == "notifications.unread"
    await nothing_more(second, "presence")
    for c in (ca, cb, second):
        await c.close()


async def test_a_peer_hears_of_a_direct_conversation_with_its_first_message(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca, cb = await Client.connect(live.ws, a), await Client.connect(live.ws, b)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    await nothing_more(cb, "conversation.updated")
    await ca.command("send", conversation_id=cid, client_id="m1", text="hi")
    assert (await cb.expect("newMessage"))["message"]["conversation_id"] == cid
    await ca.close(), await cb.close()


async def test_groups_are_created_over_http_and_members_hear_of_them(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca, cb = await Client.connect(live.ws, a), await Client.connect(live.ws, b)
    refused = await ca.command("create_group", name="Trip", member_ids=[b["id"]])
    assert refused["code"] == "unknown_command"
    r = await live.http.post("/api/v1/conversations",
                             json={"kind": "group", "name": "Trip", "member_ids": [b["id"]]},
                             headers={"Authorization": f"Bearer {a['jwt']}"})
    assert r.status_code == 201, r.text
    told = await cb.expect("conversation.updated")
    assert told["conversation"]["id"] == r.json()["id"]
    await ca.close(), await cb.close()


@pytest.mark.parametrize("token, reason", [(None, "unauthenticated"),
                                           ("nonsense", "invalid_token")])
async def test_a_refused_token_closes_4001_naming_the_error_code(live, token, reason):
    query = f"?token={token}" if token else ""
    ws = await websockets.connect(f"{live.ws}{query}")
    with pytest.raises(websockets.ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 3)
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, reason)
