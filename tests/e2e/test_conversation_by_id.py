"""One conversation read by id, over HTTP (`GET /api/v1/conversations/{id}`) and the
WebSocket (`conversation`), against a real server: what the list gives for it, to its
members only; a non-member and an id of no conversation get the same answer, so an id
reveals nothing (docs/protocol.md, "One conversation by id")."""

from __future__ import annotations

import pytest

from nirvana.domain.moderation.entities import Role
from tests.support.chat_client import Client
from tests.support.http import PASSWORD
from tests.support.moderation import act, signed_up_with_role
from tests.support.people import befriend, block, user


def auth(u: dict) -> dict:
    return {"Authorization": f"Bearer {u['jwt']}"}


@pytest.fixture
async def three(live):
    """a and b friends with a direct conversation and a group of both; c in neither."""
    a, b, c = await user(live.http), await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    chat = live.services.chat
    direct = await chat.open_direct(a["id"], b["id"])
    group = await chat.create_group(a["id"], "both", [b["id"]])
    return a, b, c, direct.id, group.id


async def listed(live, u: dict, conversation_id: str) -> dict:
    r = await live.http.get("/api/v1/conversations", headers=auth(u))
    return next(c for c in r.json()["conversations"] if c["id"] == conversation_id)


async def test_a_member_reads_it_as_their_list_gives_it(live, three):
    """With a message whose summary the writer still holds: the same last message, seq and
    unread count as the list item, over HTTP and the WebSocket, for each member."""
    a, b, _, direct, _ = three
    live.services.chat_store.summaries.interval = 3600  # nothing is flushed meanwhile
    await live.services.chat.send_message(b["id"], direct, client_id="k", text="hello")
    for u, unread in ((a, 1), (b, 0)):
        r = await live.http.get(f"/api/v1/conversations/{direct}", headers=auth(u))
        assert r.status_code == 200, r.text
        one = r.json()
        assert one == await listed(live, u, direct)
        assert one["last_message"]["text"] == "hello" and one["unread"] == unread
        client = await Client.connect(live.ws, u)
        try:
            ack = await client.command("conversation", conversation_id=direct)
        finally:
            await client.close()
        assert ack["type"] == "ack" and ack["conversation"] == one


async def test_a_non_member_and_an_unknown_id_get_the_same_refusal(live, three):
    a, _, c, direct, group = three
    client = await Client.connect(live.ws, c)
    try:
        answers = []
        for u, cid in ((c, direct), (c, group), (a, "0" * 32), (a, "no-such-id")):
            r = await live.http.get(f"/api/v1/conversations/{cid}", headers=auth(u))
            assert r.status_code == 403, r.text
            answers.append(r.json())
            error = await client.command("conversation", conversation_id=cid)
            assert error["type"] == "error" and error["code"] == "not_member", error
        assert all(body == answers[0] for body in answers)
        assert answers[0]["error"]["code"] == "not_member"
    finally:
        await client.close()


async def test_a_bad_id_is_refused_in_the_error_shape(live, three):
    a = three[0]
    r = await live.http.get("/api/v1/conversations/ab%01cd", headers=auth(a))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] == "id"
    client = await Client.connect(live.ws, a)
    try:
        for bad in ("", "x" * 65, 12):
            error = await client.command("conversation", conversation_id=bad)
            assert error["type"] == "error" and error["code"] == "invalid_command", error
    finally:
        await client.close()


async def test_left_removed_and_blocked_members_are_answered_as_their_list_lists_them(
        live, three):
    """One who left a group, or whom its owner removed, is not listed and is refused; a
    direct conversation with someone blocked since stays listed, and readable, as history
    is."""
    a, b, c, direct, group = three
    await befriend(live.services, a["id"], c["id"])
    other_group = (await live.services.chat.create_group(a["id"], "again", [c["id"]])).id
    assert (await live.http.get(f"/api/v1/conversations/{other_group}",
                                headers=auth(c))).status_code == 200
    await live.services.chat.leave_group(b["id"], group)
    await live.services.chat.remove_members(a["id"], other_group, [c["id"]])
    for u, gone in ((b, group), (c, other_group)):
        r = await live.http.get(f"/api/v1/conversations/{gone}", headers=auth(u))
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_member"
        r = await live.http.get("/api/v1/conversations", headers=auth(u))
        assert gone not in {x["id"] for x in r.json()["conversations"]}
    await block(live.services, a["id"], b["id"])
    for u in (a, b):
        r = await live.http.get(f"/api/v1/conversations/{direct}", headers=auth(u))
        assert r.status_code == 200 and r.json() == await listed(live, u, direct)


# Who may read a conversation: its members only; a role gives no power to read others'
# conversations; without a valid session (none, a bad one, a suspended or deleted account's,
# though a member), 401.
MATRIX = {"member": 200, "other": 403, "moderator": 403, "admin": 403, "suspended": 401,
          "deleted": 401, "anonymous": 401, "bad token": 401}


async def test_who_may_read_a_conversation(live, three, server_urls):
    a, _, c, _, _ = three
    suspended, deleted = await user(live.http), await user(live.http)
    for u in (suspended, deleted):
        await befriend(live.services, a["id"], u["id"])
    group = (await live.services.chat.create_group(
        a["id"], "all", [suspended["id"], deleted["id"]])).id
    callers = {"member": auth(a), "other": auth(c), "suspended": auth(suspended),
               "deleted": auth(deleted), "anonymous": {},
               "bad token": {"Authorization": "Bearer not-a-token"}}
    for name, role in (("moderator", Role.MODERATOR), ("admin", Role.ADMIN)):
        session = await signed_up_with_role(live.http, server_urls[0], role)
        callers[name] = {"Authorization": f"Bearer {session['jwt']}"}
        if role is Role.ADMIN:
            r = await act(live.http, session, "suspend", {"kind": "user", "id": suspended["id"]})
            assert r.status_code == 201, r.text
    r = await live.http.request("DELETE", "/api/v1/user/me", headers=auth(deleted),
                                json={"password": PASSWORD})
    assert r.status_code == 204, r.text
    got = {name: (await live.http.get(f"/api/v1/conversations/{group}",
                                      headers=headers)).status_code
           for name, headers in callers.items()}
    assert got == MATRIX
