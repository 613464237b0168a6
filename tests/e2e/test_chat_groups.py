"""Groups end to end: five people with roles, durable membership events, resume."""

from __future__ import annotations

import json

from tests.support.chat_client import Client
from tests.support.people import befriend, block, user


async def connect(live, u) -> Client:
    # Unbounded client-side queue: these clients leave many events unread, and a full
    # queue would stall their close handshake for the client's close timeout.
    return await Client.connect(live.ws, u, max_queue=None)


async def group_of_five(live):
    users = [await user(live.http) for _ in range(5)]
    owner = users[0]
    for other in users[1:]:
        await befriend(live.services, owner["id"], other["id"])
    clients = [await connect(live, u) for u in users]
    created = await live.http.post(
        "/api/v1/conversations", headers={"Authorization": f"Bearer {owner['jwt']}"},
        json={"kind": "group", "name": "Five", "member_ids": [u["id"] for u in users[1:4]]})
    assert created.status_code == 201
    return users, clients, created.json()["id"]


async def test_group_of_five_with_roles(live):
    users, (c0, c1, c2, c3, c4), gid = await group_of_five(live)
    ids = [u["id"] for u in users]
    ack = await c0.command("set_role", conversation_id=gid, user_id=ids[1], role="admin")
    assert {m["user_id"]: m["role"] for m in ack["conversation"]["members"]}[ids[1]] == "admin"
    role = await c2.expect("member.role")
    assert role["changes"] == [{"user_id": ids[1], "role": "admin"}] and role["pos"] > 0

    # An admin adds only their friends; 4 is the owner's friend, not the admin's.
    err = await c1.command("add_members", conversation_id=gid, user_ids=[ids[4]])
    assert err["type"] == "error" and err["code"] == "validation_error"
    await befriend(live.services, ids[1], ids[4])
    ack = await c1.command("add_members", conversation_id=gid, user_ids=[ids[4]])
    assert len(ack["conversation"]["members"]) == 5
    added = await c4.expect("member.added")
    assert added["user_ids"] == [ids[4]]
    again = await c1.command("add_members", conversation_id=gid, user_ids=[ids[4]])
    assert again["type"] == "ack"  # idempotent: no second member.added

    err = await c2.command("remove_members", conversation_id=gid, user_ids=[ids[3]])
    assert err["code"] == "not_allowed"
    err = await c1.command("update_group", conversation_id=gid, name="")
    assert err["code"] == "validation_error"
    ack = await c1.command("update_group", conversation_id=gid, name="Fab Five",
                           description=None)
    assert ack["conversation"]["name"] == "Fab Five"
    assert (await c3.expect("group.updated"))["changes"] == {"name": "Fab Five"}

    # Removing a member: they get member.removed, then nothing more and no access.
    await c1.command("remove_members", conversation_id=gid, user_ids=[ids[3]])
    removed = await c3.expect("member.removed")
    assert removed["user_ids"] == [ids[3]] and removed["left"] is False
    await c0.command("send", conversation_id=gid, client_id="after", text="without 3")
    await c4.expect("newMessage")
    assert (await c3.command("history", conversation_id=gid))["code"] == "not_member"
    assert not [e for e in c3.backlog if e.get("type") == "newMessage"]
    assert (await c3.command("ping"))["type"] == "pong"
    assert not [e for e in c3.backlog if e.get("type") == "newMessage"]

    # The owner leaves: the longest-standing admin (1) becomes owner.
    assert (await c0.command("leave", conversation_id=gid))["type"] == "ack"
    role = await c2.expect("member.role")
    assert role["changes"] == [{"user_id": ids[1], "role": "owner"}]
    assert (await c0.command("leave", conversation_id=gid))["type"] == "ack"  # a retry
    for c in (c0, c1, c2, c3, c4):
        await c.close()


async def test_membership_changes_are_replayed_on_resume_and_over_http(live):
    users, clients, gid = await group_of_five(live)
    ids = [u["id"] for u in users]
    since = clients[2].hello["head"]
    await clients[2].close()
    owner = {"Authorization": f"Bearer {users[0]['jwt']}"}
    r = await live.http.put(f"/api/v1/conversations/{gid}/members/{ids[1]}/role",
                            json={"role": "admin"}, headers=owner)
    assert r.status_code == 200
    r = await live.http.post(f"/api/v1/conversations/{gid}/members",
                             json={"user_ids": [ids[4]]}, headers=owner)
    assert r.status_code == 200 and len(r.json()["members"]) == 5
    r = await live.http.patch(f"/api/v1/conversations/{gid}", json={"avatar_url": "/a.png"},
                              headers=owner)
    assert r.json()["avatar_url"] == "/a.png"
    r = await live.http.delete(f"/api/v1/conversations/{gid}/members/{ids[2]}", headers=owner)
    assert r.status_code == 200
    back = await connect(live, users[2])
    done = await back.command("resume", since=since)
    assert done["type"] == "resumed"
    replayed = [e["type"] for e in back.backlog if "pos" in e]
    assert replayed == ["member.role", "member.added", "group.updated", "member.removed"]
    leave = await live.http.delete(f"/api/v1/conversations/{gid}/members/{ids[3]}",
                                   headers={"Authorization": f"Bearer {users[3]['jwt']}"})
    assert leave.status_code == 204
    for c in (back, *clients):
        await c.close()


async def test_nobody_with_a_block_against_a_member_joins(live):
    users, clients, gid = await group_of_five(live)
    ids = [u["id"] for u in users]
    await block(live.services, ids[1], ids[4])
    err = await clients[0].command("add_members", conversation_id=gid, user_ids=[ids[4]])
    assert err["details"][0]["code"] == "blocked"
    for c in clients:
        await c.close()


async def test_a_groups_receipts_reach_every_member_in_order_and_acks_keep_command_order(live):
    """Four members answer a message with `delivered` and `read` sent back to back, as
    their bursts meet in the writer (receipts held for the rest of a message's: storage/
    mongo/receipt_hold.py): each connection's acks come in its command order, and every
    member gets all eight receipts, in `pos` order, the same positions as every other."""
    users, clients, gid = await group_of_five(live)
    await clients[4].close()  # not a member
    sender, markers = clients[0], clients[1:4] + [await connect(live, users[4])]
    await sender.command("add_members", conversation_id=gid, user_ids=[users[4]["id"]])
    sent = await sender.command("send", conversation_id=gid, client_id="burst", text="hi")
    seq = sent["message"]["seq"]
    for c in markers:
        for kind in ("delivered", "read"):
            await c.ws.send(json.dumps({"type": kind, "id": f"{kind}-{c.user['id']}",
                                        "conversation_id": gid, "seq": seq}))
    for c in markers:
        acks = []
        while len(acks) < 2:
            frame = await c.recv()
            if frame.get("id", "").startswith(("delivered-", "read-")):
                assert frame["type"] == "ack", frame
                acks.append(frame["id"])
            else:
                c.backlog.append(frame)
        assert acks == [f"delivered-{c.user['id']}", f"read-{c.user['id']}"]
    # Eight receipts, not fewer: a connection's `read` is taken only after its `delivered`
    # is answered, so the two are never stored together (protocol.md: then one receipt).
    seen = []
    for c in [sender, *markers]:
        receipts = [e for e in c.backlog if e["type"] == "receipt"]
        while len(receipts) < 8:
            frame = await c.recv()
            if frame["type"] == "receipt":
                receipts.append(frame)
        positions = [r["pos"] for r in receipts]
        assert positions == sorted(positions)
        assert sorted((r["user_id"], r["kind"]) for r in receipts) == sorted(
            (m.user["id"], kind) for m in markers for kind in ("delivered", "read"))
        seen.append(positions)
    assert all(p == seen[0] for p in seen)
    for c in [sender, *markers]:
        await c.close()
