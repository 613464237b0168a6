"""`conversation.updated` reaches every current member after each change of a conversation
other than a new message (docs/protocol.md, "Server events"), carrying the changed state."""

from __future__ import annotations

import pytest

from tests.support.chat_client import Client
from tests.support.people import befriend, user


@pytest.fixture
async def group(live):
    """Owner a, member b, and c a friend of a's who is not in the group yet."""
    a, b, c = await user(live.http), await user(live.http), await user(live.http)
    for friend in (b, c):
        await befriend(live.services, a["id"], friend["id"])
    r = await live.http.post("/api/v1/conversations",
                             json={"kind": "group", "name": "Trip", "member_ids": [b["id"]]},
                             headers={"Authorization": f"Bearer {a['jwt']}"})
    assert r.status_code == 201, r.text
    clients = [await Client.connect(live.ws, u, max_queue=None) for u in (a, b, c)]
    yield r.json()["id"], (a, b, c), clients
    for client in clients:
        await client.close()


async def _next_update(client: Client, cid: str) -> dict:
    while True:
        event = await client.expect("conversation.updated")
        if event["conversation"]["id"] == cid:
            return event["conversation"]


async def test_after_an_edit_and_a_delete_of_the_last_message(group):
    cid, _, (ca, cb, _) = group
    await ca.command("send", conversation_id=cid, client_id="1", text="first")
    await ca.command("send", conversation_id=cid, client_id="2", text="helo")
    assert (await ca.command("edit", conversation_id=cid, seq=2, text="hello"))["type"] == "ack"
    for client in (ca, cb):
        assert (await _next_update(client, cid))["last_message"]["text"] == "hello"
    assert (await ca.command("delete", conversation_id=cid, seq=2))["type"] == "ack"
    for client in (ca, cb):
        last = (await _next_update(client, cid))["last_message"]
        assert last["seq"] == 2 and last["deleted"] is True and last["text"] == ""


async def test_after_members_join_and_leave(group):
    cid, (a, b, c), (ca, cb, cc) = group
    assert (await ca.command("add_members", conversation_id=cid,
                             user_ids=[c["id"]]))["type"] == "ack"
    for client in (ca, cb, cc):  # the new member too
        members = (await _next_update(client, cid))["members"]
        assert {m["user_id"] for m in members} == {a["id"], b["id"], c["id"]}
    assert (await cb.command("leave", conversation_id=cid))["type"] == "ack"
    for client in (ca, cc):
        members = (await _next_update(client, cid))["members"]
        assert {m["user_id"] for m in members} == {a["id"], c["id"]}


async def test_after_group_details_and_roles_change(group):
    cid, (a, b, _), (ca, cb, _) = group
    answer = await ca.command("update_group", conversation_id=cid, name="Trip 2",
                              description="July")
    assert answer["type"] == "ack"
    for client in (ca, cb):
        conversation = await _next_update(client, cid)
        assert (conversation["name"], conversation["description"]) == ("Trip 2", "July")
    assert (await ca.command("set_role", conversation_id=cid, user_id=b["id"],
                             role="admin"))["type"] == "ack"
    for client in (ca, cb):
        roles = {m["user_id"]: m["role"] for m in (await _next_update(client, cid))["members"]}
        assert roles == {a["id"]: "owner", b["id"]: "admin"}
