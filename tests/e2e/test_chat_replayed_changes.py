"""The `message` of a change event (edit, delete, reaction), live and replayed by a resume,
and who is told of changes to a message: docs/protocol.md, "Messages: edit, delete, react"
and "Resume algorithm"."""

from __future__ import annotations

from tests.support.chat_client import Client
from tests.support.people import befriend, user

CHANGES = ("message.edited", "message.deleted", "reaction")


async def chatting_pair(live):
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    ca = await Client.connect(live.ws, a, max_queue=None)
    cb = await Client.connect(live.ws, b, max_queue=None)
    cid = (await ca.command("open_direct", user_id=b["id"]))["conversation"]["id"]
    return a, b, ca, cb, cid


async def replay(live, who: dict, since: int) -> list[dict]:
    """The events a new device of `who` is replayed from `since`, in order."""
    c = await Client.connect(live.ws, who, max_queue=None)
    assert (await c.command("resume", since=since))["type"] == "resumed"
    await c.close()
    return [e for e in c.backlog if "pos" in e]


async def test_replayed_change_events_carry_the_message_as_it_is_now(live):
    a, b, ca, cb, cid = await chatting_pair(live)
    await ca.command("send", conversation_id=cid, client_id="1", text="hello")
    since = (await cb.expect("newMessage"))["pos"]
    await cb.command("react", conversation_id=cid, seq=1, emoji="👍")
    await ca.command("edit", conversation_id=cid, seq=1, text="hello (fixed)")
    live_edit = (await cb.expect("message.edited"))["message"]
    assert live_edit["reactions"] == {"👍": [b["id"]]}

    replayed = await replay(live, b, since)
    assert [e["type"] for e in replayed] == ["reaction", "message.edited"]
    # The reaction announced is in its own event's message, and the edit keeps it.
    for e in replayed:
        assert e["message"] == live_edit
    history = await cb.command("history", conversation_id=cid)
    assert history["messages"][0] == live_edit
    for c in (ca, cb):
        await c.close()


async def test_a_message_hidden_for_me_brings_me_no_later_changes_live_or_replayed(live):
    a, b, ca, cb, cid = await chatting_pair(live)
    await ca.command("send", conversation_id=cid, client_id="1", text="hello")
    since = (await cb.expect("newMessage"))["pos"]
    await ca.command("edit", conversation_id=cid, seq=1, text="hello!")
    assert (await cb.expect("message.edited"))["message"]["text"] == "hello!"
    assert (await cb.command("delete", conversation_id=cid, seq=1, scope="me"))["type"] \
        == "ack"
    await ca.command("edit", conversation_id=cid, seq=1, text="hello!!")
    await ca.command("react", conversation_id=cid, seq=1, emoji="🎉")
    await ca.command("send", conversation_id=cid, client_id="2", text="after")
    # Events come in position order: once "after" is here, anything before it is too.
    assert (await cb.expect("newMessage"))["message"]["text"] == "after"
    assert [e["type"] for e in cb.backlog if e["type"] in CHANGES] == ["message.deleted"]
    assert (await ca.expect("reaction"))["message"]["text"] == "hello!!"  # a still sees it

    # Nor replayed: not even the edit from before the hide, which would show it again.
    replayed = await replay(live, b, since)
    assert [(e["type"], e.get("scope")) for e in replayed] == [
        ("message.deleted", "me"), ("newMessage", None)]
    assert [m["text"] for m in (await cb.command("history", conversation_id=cid))
            ["messages"]] == ["after"]
    for c in (ca, cb):
        await c.close()


async def test_a_left_conversations_changes_are_not_replayed(live):
    """A removed member is replayed its removal, not the changes before it: they would carry
    the message as it is now, changed after the removal."""
    owner, b = await user(live.http), await user(live.http)
    await befriend(live.services, owner["id"], b["id"])
    co = await Client.connect(live.ws, owner, max_queue=None)
    cb = await Client.connect(live.ws, b, max_queue=None)
    created = await live.http.post(
        "/api/v1/conversations", headers={"Authorization": f"Bearer {owner['jwt']}"},
        json={"kind": "group", "name": "Two", "member_ids": [b["id"]]})
    gid = created.json()["id"]
    await co.command("send", conversation_id=gid, client_id="1", text="draft")
    since = (await cb.expect("newMessage"))["pos"]
    await cb.command("react", conversation_id=gid, seq=1, emoji="👍")
    await co.command("remove_members", conversation_id=gid, user_ids=[b["id"]])
    await cb.expect("member.removed")
    await co.command("edit", conversation_id=gid, seq=1, text="said after b left")

    replayed = await replay(live, b, since)
    assert [e["type"] for e in replayed] == ["member.removed"]
    assert "said after b left" not in str(replayed)
    for c in (co, cb):
        await c.close()


async def test_each_replayed_change_carries_its_own_message(live):
    """Changes of several older messages in one replay: seqs 1, 2, 3 and 6 are close
    enough to be read as one seq range (its ends and the unchanged 4 and 5 between them
    must come out right), 16 is far from them and read by id."""
    a, b, ca, cb, cid = await chatting_pair(live)
    for i in range(1, 17):
        await ca.command("send", conversation_id=cid, client_id=str(i), text=f"m{i}")
    since = max([(await cb.expect("newMessage"))["pos"] for _ in range(16)])
    changed = {1: "👍", 2: "🎉", 3: "👍", 6: "🎉", 16: "🔥"}
    for seq, emoji in changed.items():
        await cb.command("react", conversation_id=cid, seq=seq, emoji=emoji)
    await ca.command("edit", conversation_id=cid, seq=2, text="m2 (fixed)")

    replayed = await replay(live, b, since)
    got = {(e["type"], e["seq"] if "seq" in e else e["message"]["seq"]):
           (e["message"]["text"], e["message"].get("reactions")) for e in replayed}
    want = {("reaction", seq): (f"m{seq}", {emoji: [b["id"]]}) for seq, emoji in changed.items()}
    want["reaction", 2] = want["message.edited", 2] = ("m2 (fixed)", {"🎉": [b["id"]]})
    assert got == want
    for c in (ca, cb):
        await c.close()


async def test_changes_replayed_after_a_delete_for_everyone_carry_the_tombstone(live):
    """A reaction and an edit replayed after the message was deleted for everyone show the
    tombstone, not the text or reactions they were made on."""
    a, b, ca, cb, cid = await chatting_pair(live)
    await ca.command("send", conversation_id=cid, client_id="1", text="hello")
    since = (await cb.expect("newMessage"))["pos"]
    await cb.command("react", conversation_id=cid, seq=1, emoji="👍")
    await ca.command("edit", conversation_id=cid, seq=1, text="secret edit")
    assert (await ca.command("delete", conversation_id=cid, seq=1, scope="everyone")
            )["type"] == "ack"
    await cb.expect("message.deleted")

    replayed = await replay(live, b, since)
    assert [e["type"] for e in replayed] == ["reaction", "message.edited", "message.deleted"]
    tombstone = (await cb.command("history", conversation_id=cid))["messages"][0]
    assert tombstone["deleted"] is True and tombstone["text"] == ""
    assert not tombstone.get("reactions")
    for e in replayed:
        assert e["message"] == tombstone
    assert "secret" not in str(replayed) and "hello" not in str(replayed)
    for c in (ca, cb):
        await c.close()
