"""Missed chat messages by email, end to end: a real server, real WebSocket clients and a
real SMTP server (aiosmtpd). A direct message, or a mention in a group, still unread after
the delay while its recipient has no connected device is mailed, one mail per conversation
with every message still unread; what was read is not; nothing is mailed twice."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace

import pytest

from nirvana.bootstrap import build_services
from tests.support.chat_client import Client
from tests.support.http import bearer, sign_up
from tests.support.people import befriend
from tests.support.smtp import html_of, text_of, until

pytestmark = pytest.mark.anyio

# Seconds a message stays unread before it is mailed (MISSED_MESSAGE_DELAY): a read that
# must come first is one request right after the send, well within it.
DELAY = 0.5
_ids = itertools.count(1)


@pytest.fixture
def settings(base_settings, tmp_path, smtp):
    return replace(base_settings, data_dir=tmp_path, smtp_url=f"smtp://127.0.0.1:{smtp.port}",
                   missed_message_delay=DELAY)


async def person(live, name: str) -> dict:
    session = await sign_up(live.http, name, email=f"{name.lower()}{next(_ids)}@example.com")
    return {**session["user"], "jwt": session["jwt"], "headers": bearer(session)}


async def say(live, who: dict, conversation_id: str, text: str) -> int:
    r = await live.http.post(f"/api/v1/conversations/{conversation_id}/messages",
                             headers=who["headers"], json={"text": text})
    assert r.status_code == 201, r.text
    return r.json()["seq"]


def mails_to(smtp, address: str) -> list:
    return [m for m in smtp.handler.received if m["To"] == address]


async def quiet(seconds: float = DELAY * 2.5) -> None:
    """Long enough for another mail to have come, had one been due."""
    await asyncio.sleep(seconds)


async def test_unread_direct_messages_are_mailed_once_per_conversation(live, smtp):
    ann, bob = await person(live, "Ann"), await person(live, "Bob")
    await befriend(live.services, ann["id"], bob["id"])
    direct = await live.services.chat.open_direct(ann["id"], bob["id"])
    await say(live, ann, direct.id, "Are you there?")
    await say(live, ann, direct.id, "Dinner at 8 <b>sharp</b>")

    async def mailed():
        return mails_to(smtp, bob["email"])
    [mail] = await until(mailed)
    assert mail["Subject"] == "Ann sent you 2 messages"
    text = text_of(mail)
    assert "Are you there?" in text and "Dinner at 8 <b>sharp</b>" in text
    assert "http://testserver/chat" in text
    assert "Dinner at 8 &lt;b&gt;sharp&lt;/b&gt;" in html_of(mail)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    await quiet()
    assert len(mails_to(smtp, bob["email"])) == 1  # never twice for the same messages
    # Nor after a restart: a new process on the same database finds nothing due.
    again = build_services(live.services.settings, live.services.pool, live.services.mongo,
                           secret="t" * 48)
    assert await again.missed_messages.mail_due() == 0

    await say(live, ann, direct.id, "Never mind")
    await until(lambda: _more(smtp, bob["email"], 2))
    later = mails_to(smtp, bob["email"])[1]
    assert "Never mind" in text_of(later) and "Are you there?" not in text_of(later)
    assert mails_to(smtp, ann["email"]) == []  # nothing about your own messages


async def _more(smtp, address: str, n: int):
    return len(mails_to(smtp, address)) >= n


async def test_what_was_read_meanwhile_is_not_mailed(live, smtp):
    ann, bob = await person(live, "Ann"), await person(live, "Bob")
    await befriend(live.services, ann["id"], bob["id"])
    direct = await live.services.chat.open_direct(ann["id"], bob["id"])
    first = await say(live, ann, direct.id, "Seen on the phone")
    await say(live, ann, direct.id, "Still unread")
    # Read (over HTTP, with no socket left open) before the delay is up.
    r = await live.http.post(f"/api/v1/conversations/{direct.id}/read",
                             headers=bob["headers"], json={"seq": first})
    assert r.status_code == 200

    async def mailed():
        return mails_to(smtp, bob["email"])
    [mail] = await until(mailed)
    assert "Still unread" in text_of(mail) and "Seen on the phone" not in text_of(mail)
    assert mail["Subject"] == "Ann sent you 1 message"

    # All of it read: no mail at all.
    last = await say(live, ann, direct.id, "One more")
    await live.http.post(f"/api/v1/conversations/{direct.id}/read", headers=bob["headers"],
                         json={"seq": last})
    await quiet()
    assert len(mails_to(smtp, bob["email"])) == 1


async def test_a_connected_device_gets_no_mail(live, smtp):
    ann, bob = await person(live, "Ann"), await person(live, "Bob")
    await befriend(live.services, ann["id"], bob["id"])
    direct = await live.services.chat.open_direct(ann["id"], bob["id"])
    phone = await Client.connect(live.ws, bob)
    await phone.expect("notifications.unread")
    await say(live, ann, direct.id, "You are online")
    await phone.expect("newMessage")
    await quiet()
    assert mails_to(smtp, bob["email"]) == []
    await phone.close()


async def test_in_a_group_only_a_mention_is_mailed(live, smtp):
    ann, bob, cat = (await person(live, "Ann"), await person(live, "Bob"),
                     await person(live, "Cat"))
    for friend in (bob, cat):
        await befriend(live.services, ann["id"], friend["id"])
    group = await live.services.chat.create_group(ann["id"], "Trip", [bob["id"], cat["id"]],
                                                  None, None)
    # Someone outside the group whose username is Cat's with ".can" after it: in a group a
    # handle names a member, so "@cat.Can" is still Cat's (it was the outsider's, and nobody's).
    await sign_up(live.http, "Eve", username=f"{cat['username']}.can")
    await say(live, ann, group.id, "Tickets are booked")
    await say(live, ann, group.id, f"@{cat['username']}.Can you bring the map?")

    async def mailed():
        return mails_to(smtp, cat["email"])
    [mail] = await until(mailed)
    assert mail["Subject"] == "You were mentioned in Trip"
    assert "Can you bring the map?" in text_of(mail)
    assert "Tickets are booked" not in text_of(mail)
    await quiet()
    assert mails_to(smtp, bob["email"]) == []
    # In the app too: the mention, linking to the conversation.
    r = await live.http.get("/api/v1/notifications", headers=cat["headers"])
    [told] = [n for n in r.json()["items"] if n["kind"] != "added_to_group"]
    assert told["kind"] == "mentioned" and told["conversation_id"] == group.id
    assert told["text"] == "Ann mentioned you in Trip" and told["link"] == f"/chat?c={group.id}"
    r = await live.http.get("/api/v1/notifications", headers=bob["headers"])
    assert [n["kind"] for n in r.json()["items"]] == ["added_to_group"]  # no mention


async def test_a_muted_conversation_or_a_switch_off_mails_nothing(live, smtp):
    ann, bob, cat = (await person(live, "Ann"), await person(live, "Bob"),
                     await person(live, "Cat"))
    for friend in (bob, cat):
        await befriend(live.services, ann["id"], friend["id"])
    with_bob = await live.services.chat.open_direct(ann["id"], bob["id"])
    with_cat = await live.services.chat.open_direct(ann["id"], cat["id"])
    r = await live.http.put(f"/api/v1/conversations/{with_bob.id}/mute",
                            headers=bob["headers"])
    assert r.status_code == 200
    r = await live.http.patch("/api/v1/notifications/preferences", headers=cat["headers"],
                              json={"preferences": [{"kind": "missed_messages",
                                                     "email": False}]})
    assert r.status_code == 200
    await say(live, ann, with_bob.id, "Muted")
    await say(live, ann, with_cat.id, "Switched off")
    await quiet()
    assert smtp.handler.received == []
