"""Edits, deletes, reactions, receipts, unread counts and search, end to end."""

from __future__ import annotations

from urllib.parse import quote

from tests.support.chat_client import Client
from tests.support.people import befriend, user


async def chatting_pair(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a, max_queue=None)
    cb = await Client.connect(live.ws, b, max_queue=None)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    return a, b, ca, cb, cid


async def test_edit_delete_and_react_are_durable_idempotent_events(live):
    a, b, ca, cb, cid = await chatting_pair(live)
    await ca.command("send", conversation_id=cid, client_id="1", text="helo")
    since = (await cb.expect("newMessage"))["pos"]
    ack = await ca.command("edit", conversation_id=cid, seq=1, text="hello")
    assert ack["message"]["text"] == "hello" and ack["message"]["edited_at"]
    edited = await cb.expect("message.edited")
    assert edited["message"]["text"] == "hello" and edited["pos"] > since
    await ca.command("edit", conversation_id=cid, seq=1, text="hello")  # retry
    err = await cb.command("edit", conversation_id=cid, seq=1, text="mine now")
    assert err["code"] == "not_allowed"

    for _ in range(2):  # a set operation: the retry changes nothing
        ack = await cb.command("react", conversation_id=cid, seq=1, emoji="👍")
    assert ack["message"]["reactions"] == {"👍": [b["id"]]}
    reaction = await ca.expect("reaction")
    assert reaction["emoji"] == "👍" and reaction["added"] and reaction["user_id"] == b["id"]
    err = await cb.command("react", conversation_id=cid, seq=1, emoji="lol")
    assert err["code"] == "validation_error"

    ack = await ca.command("delete", conversation_id=cid, seq=1, scope="everyone")
    assert ack["message"]["deleted"] and ack["message"]["text"] == ""
    tomb = await cb.expect("message.deleted")
    assert tomb["scope"] == "everyone" and tomb["message"]["deleted"]
    await ca.command("delete", conversation_id=cid, seq=1)  # retry

    # Every durable event once, in pos order, also for a device that resumes.
    cb2 = await Client.connect(live.ws, b, max_queue=None)
    assert (await cb2.command("resume", since=since))["type"] == "resumed"
    replayed = [e["type"] for e in cb2.backlog if "pos" in e]
    assert replayed == ["message.edited", "reaction", "message.deleted"]
    history = await cb.command("history", conversation_id=cid)
    assert history["messages"][0]["deleted"] and history["messages"][0]["text"] == ""
    for c in (ca, cb, cb2):
        await c.close()


async def test_delete_for_me_and_search_over_http(live):
    a, b, ca, cb, cid = await chatting_pair(live)
    await ca.command("send", conversation_id=cid, client_id="1", text="Le Café de Flore")
    await ca.command("send", conversation_id=cid, client_id="2", text="cafe au lait")
    auth_b = {"Authorization": f"Bearer {b['jwt']}"}
    found = await live.http.get("/api/v1/messages/search", params={"q": "CAFÉ fl"},
                                headers=auth_b)
    assert [m["seq"] for m in found.json()["messages"]] == [1]
    r = await live.http.delete(f"/api/v1/conversations/{cid}/messages/1",
                               params={"scope": "me"}, headers=auth_b)
    assert r.status_code == 200
    found = await cb.command("search", q="cafe")
    assert [m["seq"] for m in found["messages"]] == [2]
    history = await live.http.get(f"/api/v1/conversations/{cid}/messages", headers=auth_b)
    assert [m["seq"] for m in history.json()["messages"]] == [2]
    assert (await ca.command("search", q="flore"))["messages"][0]["seq"] == 1
    stranger = await user(live.http)
    r = await live.http.get("/api/v1/messages/search", params={"q": "cafe"},
                            headers={"Authorization": f"Bearer {stranger['jwt']}"})
    assert r.json()["messages"] == []
    r = await live.http.put(f"/api/v1/conversations/{cid}/messages/2/reactions/{quote('🎉')}",
                            headers=auth_b)
    assert r.json()["reactions"] == {"🎉": [b["id"]]}
    r = await live.http.patch(f"/api/v1/conversations/{cid}/messages/2", json={"text": "x"},
                              headers=auth_b)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_allowed"
    for c in (ca, cb):
        await c.close()


async def test_receipts_and_unread_counts_follow_every_change(live):
    a, b, ca, cb, cid = await chatting_pair(live)
    for i in range(3):
        await ca.command("send", conversation_id=cid, client_id=str(i), text=str(i))
    assert [(await cb.expect("newMessage"))["message"]["seq"] for _ in range(3)] == [1, 2, 3]
    # b has read nothing (read_seq 0): unread is the last seq, as docs/protocol.md derives it.
    listed = await cb.command("conversations")
    assert listed["conversations"][0]["unread"] == 3
    ack = await cb.command("delivered", conversation_id=cid, seq=3)
    receipt = await ca.expect("receipt", kind="delivered")
    assert receipt["seq"] == 3 and receipt["user_id"] == b["id"]
    ack = await cb.command("read", conversation_id=cid, seq=2)
    assert ack["conversation"]["unread"] == 1
    # One conversation.updated per change: after delivered (3 unread), after read (1).
    assert (await cb.expect("conversation.updated"))["conversation"]["unread"] == 3
    assert (await cb.expect("conversation.updated"))["conversation"]["unread"] == 1
    assert (await ca.expect("receipt", kind="read"))["seq"] == 2
    again = await cb.command("read", conversation_id=cid, seq=1)  # lower: nothing changes
    assert again["conversation"]["unread"] == 1
    listed = await cb.command("conversations")  # ask again to reconcile
    assert listed["conversations"][0]["unread"] == 1
    members = {m["user_id"]: m for m in listed["conversations"][0]["members"]}
    assert members[b["id"]]["read_seq"] == 2 and members[b["id"]]["delivered_seq"] == 3
    await ca.command("ping")
    assert not [e for e in ca.backlog if e["type"] == "receipt" and e["seq"] == 1]
    for c in (ca, cb):
        await c.close()


async def test_one_message_carries_one_created_at_on_every_path(live):
    """The stored time is to the millisecond (a BSON date): the live frames must carry that
    same value, or a client that deduplicates or sorts by it sees two messages."""
    a, b, ca, cb, cid = await chatting_pair(live)
    ack = await ca.command("send", conversation_id=cid, client_id="t", text="when")
    created = ack["message"]["created_at"]
    assert (await cb.expect("newMessage"))["message"]["created_at"] == created
    retry = await ca.command("send", conversation_id=cid, client_id="t", text="when")
    assert retry["duplicate"] and retry["message"]["created_at"] == created
    (over_ws,) = (await cb.command("history", conversation_id=cid))["messages"]
    assert over_ws["created_at"] == created
    r = await live.http.get(f"/api/v1/conversations/{cid}/messages",
                            headers={"Authorization": f"Bearer {b['jwt']}"})
    assert r.status_code == 200, r.text
    (over_http,) = r.json()["messages"]
    assert over_http["created_at"] == created

    edit = await ca.command("edit", conversation_id=cid, seq=1, text="when?")
    edited = (await cb.expect("message.edited"))["message"]
    assert edited["created_at"] == edit["message"]["created_at"] == created
    (after_edit,) = (await cb.command("history", conversation_id=cid))["messages"]
    assert after_edit["edited_at"] == edited["edited_at"] == edit["message"]["edited_at"]
    (listed,) = (await cb.command("conversations"))["conversations"]
    assert listed["last_message"]["created_at"] == created
    await ca.close(), await cb.close()
