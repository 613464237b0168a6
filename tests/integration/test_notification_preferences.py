"""Preferences per kind x channel, conversation mutes, and notification mails against a real
SMTP server (aiosmtpd): text and HTML parts, a link to the page, and the one-click
unsubscribe (RFC 8058) that works signed out."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace

import pytest

from nirvana.domain.moderation.entities import Role
from tests.support.http import bearer, sign_up
from tests.support.moderation import act, publish, signed_up_with_role
from tests.support.smtp import html_of, text_of, until

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(base_settings, tmp_path, smtp):
    return replace(base_settings, data_dir=tmp_path, smtp_url=f"smtp://127.0.0.1:{smtp.port}")


def uid(session: dict) -> int:
    return session["user"]["id"]


async def prefs(client, who) -> dict:
    r = await client.get("/api/v1/notifications/preferences", headers=bearer(who))
    assert r.status_code == 200, r.text
    return {p["kind"]: (p["app"], p["email"]) for p in r.json()["preferences"]}


async def test_defaults_tell_everything_in_the_app_and_mail_only_what_matters(client):
    ann = await sign_up(client)
    assert await prefs(client, ann) == {
        "friend_request": (True, True), "friend_accepted": (True, None),
        "new_follower": (True, None), "blog_liked": (True, None),
        "blog_commented": (True, None), "mentioned": (True, True), "new_blog": (True, None),
        "added_to_group": (True, None), "group_role": (True, None),
        "missed_messages": (None, True)}


async def test_a_kind_turned_off_in_the_app_is_not_stored(client):
    ann, bob, cat = await sign_up(client), await sign_up(client), await sign_up(client)
    r = await client.patch("/api/v1/notifications/preferences", headers=bearer(bob),
                           json={"preferences": [{"kind": "new_follower", "app": False}]})
    assert r.status_code == 200, r.text
    assert (await prefs(client, bob))["new_follower"] == (False, None)
    await client.post(f"/api/v1/follows/{uid(bob)}", headers=bearer(ann))
    await client.post(f"/api/v1/friends/requests/{uid(bob)}", headers=bearer(cat))
    r = await client.get("/api/v1/notifications", headers=bearer(bob))
    assert [n["kind"] for n in r.json()["items"]] == ["friend_request"]


@pytest.mark.parametrize("change, code", [
    ({"kind": "blog_liked", "email": True}, "no_such_channel"),
    ({"kind": "nonsense", "app": False}, "unknown_kind"),
])
async def test_a_switch_that_does_not_exist_is_refused(client, change, code):
    ann = await sign_up(client)
    r = await client.patch("/api/v1/notifications/preferences", headers=bearer(ann),
                           json={"preferences": [change]})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["code"] == code
    assert (await prefs(client, ann))["blog_liked"] == (True, None)


async def test_only_a_member_mutes_a_conversation(client, services):
    ann, bob, eve = await sign_up(client), await sign_up(client), await sign_up(client)
    await services.social.send_friend_request(uid(ann), uid(bob))
    await services.social.accept_friend_request(uid(bob), uid(ann))
    conversation = await services.chat.open_direct(uid(ann), uid(bob))
    url = f"/api/v1/conversations/{conversation.id}/mute"
    assert (await client.put(url, headers=bearer(eve))).status_code == 403
    r = await client.put(url, headers=bearer(ann))
    assert r.status_code == 200 and r.json() == {"conversation_id": conversation.id,
                                                 "muted": True}
    r = await client.get("/api/v1/notifications/preferences", headers=bearer(ann))
    assert r.json()["muted_conversations"] == [conversation.id]
    assert (await client.delete(url, headers=bearer(ann))).json()["muted"] is False
    r = await client.get("/api/v1/notifications/preferences", headers=bearer(ann))
    assert r.json()["muted_conversations"] == []


async def test_muting_no_such_conversation_is_not_member_as_documented(client):
    ann = await sign_up(client)
    for method in ("PUT", "DELETE"):
        r = await client.request(method, f"/api/v1/conversations/{'0' * 32}/mute",
                                 headers=bearer(ann))
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_member"
    # The reference declares no 404 that never comes (a generated client's dead branch).
    paths = (await client.get("/openapi.json")).json()["paths"]
    mute = paths["/api/v1/conversations/{id}/mute"]
    assert {"put", "delete"} <= set(mute)
    assert all("404" not in mute[method]["responses"] for method in ("put", "delete"))


async def test_an_offline_friend_request_is_mailed_and_one_click_unsubscribes(client, smtp):
    ann = await sign_up(client, "Ann Example", email="ann@example.com")
    bob = await sign_up(client, "Bob Builder", email="bob@example.com")
    cat = await sign_up(client, "Cat Person")
    await client.post(f"/api/v1/friends/requests/{uid(bob)}", headers=bearer(ann))

    async def received():
        return smtp.handler.received
    [mail] = await until(received)
    assert mail["To"] == "bob@example.com"
    assert mail["Subject"] == "Ann Example sent you a friend request"
    link = f"http://testserver/people/{uid(ann)}"
    assert link in text_of(mail) and f'href="{link}"' in html_of(mail)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(r"<(.+)>", mail["List-Unsubscribe"]).group(1)
    assert unsubscribe.startswith("http://testserver/unsubscribe?token=")

    # What a mail client does (RFC 8058): a POST with no cookie and no Origin.
    client.cookies.clear()
    r = await client.post(unsubscribe.removeprefix("http://testserver"),
                          content=b"List-Unsubscribe=One-Click",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200
    assert (await prefs(client, bob))["friend_request"] == (True, False)

    await client.post(f"/api/v1/friends/requests/{uid(bob)}", headers=bearer(cat))
    r = await client.get("/api/v1/notifications", headers=bearer(bob))
    assert len(r.json()["items"]) == 2  # still told in the app
    await asyncio.sleep(0.5)
    assert len(smtp.handler.received) == 1


async def test_a_forged_unsubscribe_token_changes_nothing(client):
    bob = await sign_up(client)
    r = await client.post("/api/v1/notifications/unsubscribe",
                          json={"token": "MTpmcmllbmRfcmVxdWVzdA.forged"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["code"] == "invalid_token"
    assert (await prefs(client, bob))["friend_request"] == (True, True)
    page = await client.get("/unsubscribe?token=nonsense")
    assert page.status_code == 422


async def test_a_password_reset_is_confirmed_by_mail(client, services, smtp):
    await sign_up(client, email="gina@example.com")
    await client.post("/api/v1/user/password/forgot", json={"email": "gina@example.com"})

    async def reset_mail():
        return smtp.handler.received
    [mail] = await until(reset_mail)
    token = re.search(r"token=(\S+)", text_of(mail)).group(1)
    r = await client.post("/api/v1/user/password/reset",
                          json={"token": token, "new_password": "a new long password"})
    assert r.status_code in (200, 204), r.text

    async def confirmation():
        return smtp.handler.received[1:]
    [confirm] = await until(confirmation)
    assert confirm["Subject"] == "Your Nirvana password was changed"
    assert "/forgot-password" in text_of(confirm) and "<p>" in html_of(confirm)


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/notifications/preferences"),
    ("PATCH", "/api/v1/notifications/preferences"),
    ("PUT", "/api/v1/conversations/abc/mute"),
    ("DELETE", "/api/v1/conversations/abc/mute"),
])
async def test_preferences_and_mutes_need_a_session(client, method, path):
    r = await client.request(method, path, json={"preferences": [{"kind": "mentioned",
                                                                  "app": False}]}
                             if method == "PATCH" else None)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"


async def test_preferences_are_each_users_own(client):
    ann, bob = await sign_up(client), await sign_up(client)
    await client.patch("/api/v1/notifications/preferences", headers=bearer(ann),
                       json={"preferences": [{"kind": "mentioned", "email": False}]})
    assert (await prefs(client, ann))["mentioned"] == (True, False)
    assert (await prefs(client, bob))["mentioned"] == (True, True)


async def test_a_mention_in_a_blog_is_mailed_to_who_may_read_it(client, smtp):
    ann = await sign_up(client, "Ann Example", email="ann2@example.com")
    bob = await sign_up(client, "Bob Builder", email="bob2@example.com")
    cat = await sign_up(client, "Cat Person", email="cat2@example.com")
    r = await client.post("/api/v1/blog", headers=bearer(ann), json={
        "title": "Friends only", "audience": "friends",
        "body": f"with @{bob['user']['username']} and @{cat['user']['username']}"})
    assert r.status_code == 201, r.text
    r = await client.post("/api/v1/blog", headers=bearer(ann), json={
        "title": "Trip", "body": f"thanks @{bob['user']['username']}!"})
    blog_id = r.json()["id"]

    async def received():
        return smtp.handler.received
    [mail] = await until(received)
    assert mail["To"] == "bob2@example.com"
    assert mail["Subject"] == "Ann Example mentioned you in “Trip”"
    assert f"http://testserver/blogs/{blog_id}" in text_of(mail)
    await asyncio.sleep(0.5)
    assert len(smtp.handler.received) == 1  # nobody outside the friends-only audience
    r = await client.get("/api/v1/notifications", headers=bearer(cat))
    assert r.json()["items"] == []


async def test_a_mention_on_a_hidden_blog_is_neither_stored_nor_mailed(client, smtp,
                                                                     server_urls):
    """Its author may still comment on a blog a moderator hid; whom the comment mentions may
    not read it, so they are told nothing, by the app (dan) or by mail (eve, app off)."""
    ann = await sign_up(client, "Ann Example", email="ann3@example.com")
    dan = await sign_up(client, "Dan Reader", email="dan3@example.com")
    eve = await sign_up(client, "Eve Mailed", email="eve3@example.com")
    r = await client.patch("/api/v1/notifications/preferences", headers=bearer(eve),
                           json={"preferences": [{"kind": "mentioned", "app": False}]})
    assert r.status_code == 200, r.text
    moderator = await signed_up_with_role(client, server_urls[0], Role.MODERATOR)
    blog = await publish(client, ann, title="Under review")
    target = {"kind": "blog", "id": blog["id"]}
    names = f"@{dan['user']['username']} @{eve['user']['username']}"

    async def comment() -> None:
        r = await client.post(f"/api/v1/blog/{blog['id']}/comments", headers=bearer(ann),
                              json={"body": f"{names} have a look"})
        assert r.status_code == 201, r.text

    assert (await act(client, moderator, "hide_blog", target)).status_code == 201
    await comment()
    await asyncio.sleep(0.5)
    assert smtp.handler.received == []
    r = await client.get("/api/v1/notifications", headers=bearer(dan))
    assert r.json()["items"] == []
    # Shown again, the same comment tells both: the path the hide closed is open.
    assert (await act(client, moderator, "show_blog", target)).status_code == 201
    await comment()

    async def both():
        return len(smtp.handler.received) == 2 and smtp.handler.received
    mails = await until(both)
    assert sorted(m["To"] for m in mails) == ["dan3@example.com", "eve3@example.com"]
    assert {m["Subject"] for m in mails} == {
        "Ann Example mentioned you in a comment on “Under review”"}
    r = await client.get("/api/v1/notifications", headers=bearer(dan))
    assert [n["kind"] for n in r.json()["items"]] == ["mentioned"]
