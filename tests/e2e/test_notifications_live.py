"""Notifications on the WebSocket, against a real server with real sockets: every device of
the recipient hears each change with the unread count, and a socket that opens after a
missed change starts with the count to refetch."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import Field, TypeAdapter

from nirvana.domain.moderation.entities import Role
from nirvana.ws.events import ServerEvent
from tests.support.chat_client import Client
from tests.support.http import bearer, sign_up
from tests.support.moderation import act, publish, signed_up_with_role
from tests.support.people import user

pytestmark = pytest.mark.anyio

FRAME = TypeAdapter(Annotated[ServerEvent, Field(discriminator="type")])


def valid(frame: dict) -> dict:
    FRAME.validate_python(frame)  # what is sent is what the served schema declares
    return frame


async def test_every_device_of_the_recipient_hears_each_change(live):
    ann, bob = await user(live.http), await user(live.http)
    phone = await Client.connect(live.ws, bob)
    laptop = await Client.connect(live.ws, bob)
    for device in (phone, laptop):
        assert valid(await device.expect("notifications.unread"))["unread"] == 0

    r = await live.http.post(f"/api/v1/follows/{bob['id']}", headers=bearer(ann))
    assert r.status_code == 201
    for device in (phone, laptop):
        event = valid(await device.expect("notification"))
        assert event["unread"] == 1
        assert event["notification"]["kind"] == "new_follower"
        assert event["notification"]["actors"][0]["id"] == ann["id"]

    nid = event["notification"]["id"]
    r = await live.http.post(f"/api/v1/notifications/{nid}/read", headers=bearer(bob))
    assert r.status_code == 200
    for device in (phone, laptop):
        assert valid(await device.expect("notifications.unread"))["unread"] == 0

    # An undo is a change too: unfollowing withdraws the new follow's unread notification.
    await live.http.delete(f"/api/v1/follows/{bob['id']}", headers=bearer(ann))
    await live.http.post(f"/api/v1/follows/{bob['id']}", headers=bearer(ann))
    assert (await phone.expect("notification"))["unread"] == 1
    await live.http.delete(f"/api/v1/follows/{bob['id']}", headers=bearer(ann))
    assert (await phone.expect("notifications.unread"))["unread"] == 0
    for device in (phone, laptop):
        await device.close()


async def test_a_socket_reopened_after_a_missed_change_starts_with_the_count(live):
    ann, bob = await user(live.http), await user(live.http)
    first = await Client.connect(live.ws, bob)
    await first.expect("notifications.unread", unread=0)
    head = first.hello["head"]
    await first.close()

    await live.http.post(f"/api/v1/friends/requests/{bob['id']}", headers=bearer(ann))

    again = await Client.connect(live.ws, bob, since=head)
    assert (await again.expect("notifications.unread"))["unread"] == 1
    # The count is the client's cue to refetch the list over HTTP.
    r = await live.http.get("/api/v1/notifications", headers=bearer(bob))
    assert [n["kind"] for n in r.json()["items"]] == ["friend_request"]
    await again.close()


async def test_others_hear_nothing_of_my_notifications(live):
    ann, bob, eve = await user(live.http), await user(live.http), await user(live.http)
    spy = await Client.connect(live.ws, eve)
    await spy.expect("notifications.unread")
    await live.http.post(f"/api/v1/follows/{bob['id']}", headers=bearer(ann))
    ping = await spy.command("ping")
    assert ping["type"] == "pong"
    assert all(f["type"] not in ("notification", "notifications.unread") for f in spy.backlog)
    await spy.close()


async def _commented(live, blog: dict, commenter: dict, body: str) -> int:
    r = await live.http.post(f"/api/v1/blog/{blog['id']}/comments", headers=bearer(commenter),
                             json={"body": body})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_a_deleted_comment_tells_whom_it_notified_their_unread_count(live, server_urls):
    author, commenter = await user(live.http), await user(live.http)
    cat = await sign_up(live.http)
    moderator = await signed_up_with_role(live.http, server_urls[0], Role.MODERATOR)
    blog = await publish(live.http, author)
    told = {"author": await Client.connect(live.ws, author),
            "cat": await Client.connect(live.ws, {"id": cat["user"]["id"], "jwt": cat["jwt"]})}
    for device in told.values():
        await device.expect("notifications.unread", unread=0)
    # Deleted by the one who wrote it, by the blog's author (who moderates their page), then
    # removed by a moderator.
    for deleter in (commenter, author, moderator):
        comment_id = await _commented(live, blog, commenter, f"look @{cat['user']['username']}")
        for device in told.values():
            assert (await device.expect("notification"))["unread"] == 1
        if deleter is moderator:
            r = await act(live.http, moderator, "remove_comment",
                          {"kind": "comment", "blog_id": blog["id"], "id": comment_id})
            assert r.status_code == 201, r.text
        else:
            r = await live.http.delete(f"/api/v1/blog/{blog['id']}/comments/{comment_id}",
                                       headers=bearer(deleter))
            assert r.status_code == 204
        for device in told.values():
            assert valid(await device.expect("notifications.unread"))["unread"] == 0
    for device in told.values():
        await device.close()


async def test_a_mention_edited_away_is_still_withdrawn_with_its_comment(live):
    author, commenter = await user(live.http), await user(live.http)
    cat = await sign_up(live.http)
    blog = await publish(live.http, author)
    on_cat = await Client.connect(live.ws, {"id": cat["user"]["id"], "jwt": cat["jwt"]})
    await on_cat.expect("notifications.unread", unread=0)
    comment_id = await _commented(live, blog, commenter, f"look @{cat['user']['username']}")
    assert (await on_cat.expect("notification"))["unread"] == 1
    url = f"/api/v1/blog/{blog['id']}/comments/{comment_id}"
    r = await live.http.put(url, headers=bearer(commenter), json={"body": "look"})
    assert r.status_code == 200, r.text
    # The edit leaves the mention's notification; the deletion takes it and says so.
    r = await live.http.delete(url, headers=bearer(commenter))
    assert r.status_code == 204
    assert valid(await on_cat.expect("notifications.unread"))["unread"] == 0
    await on_cat.close()


async def test_a_blog_whose_readers_change_tells_who_holds_its_notification(live, server_urls):
    author, reader = await user(live.http), await user(live.http)
    moderator = await signed_up_with_role(live.http, server_urls[0], Role.MODERATOR)
    r = await live.http.post(f"/api/v1/follows/{author['id']}", headers=bearer(reader))
    assert r.status_code == 201, r.text
    socket = await Client.connect(live.ws, reader)
    await socket.expect("notifications.unread", unread=0)
    blog = await publish(live.http, author, title="Soon gone")
    told = valid(await socket.expect("notification"))
    assert told["unread"] == 1 and told["notification"]["blog_title"] == "Soon gone"

    target = {"kind": "blog", "id": blog["id"]}
    assert (await act(live.http, moderator, "hide_blog", target)).status_code == 201
    assert valid(await socket.expect("notifications.unread"))["unread"] == 0
    assert (await act(live.http, moderator, "show_blog", target)).status_code == 201
    assert valid(await socket.expect("notifications.unread"))["unread"] == 1

    r = await live.http.put(f"/api/v1/blog/{blog['id']}", headers=bearer(author),
                            json={"updated_at": blog["updated_at"], "audience": "friends"})
    assert r.status_code == 200, r.text
    assert valid(await socket.expect("notifications.unread"))["unread"] == 0
    # The cue to refetch: the list no longer holds it.
    r = await live.http.get("/api/v1/notifications", headers=bearer(reader))
    assert r.json()["items"] == [] and r.json()["unread"] == 0
    await socket.close()


async def test_the_unread_count_stops_at_1000_which_means_that_many_or_more(live):
    ann, bob = await user(live.http), await user(live.http)
    r = await live.http.post(f"/api/v1/follows/{ann['id']}", headers=bearer(bob))
    assert r.status_code == 201
    # 1,200 shown unread notices in one statement (through the API they would take minutes);
    # every count below is read through the routes and the socket.
    await live.services.pool.execute(
        "INSERT INTO notifications (recipient_id, kind, subject, group_key, text, created_at,"
        " updated_at) SELECT $1, 'notice', 'notice:' || i, 'notice:' || i, 'Export ready',"
        " now(), now() FROM generate_series(1, 1200) i", bob["id"])

    async def counts() -> tuple[int, int]:
        listed = await live.http.get("/api/v1/notifications", headers=bearer(bob))
        alone = await live.http.get("/api/v1/notifications/unread", headers=bearer(bob))
        return listed.json()["unread"], alone.json()["unread"]

    assert await counts() == (1000, 1000)
    phone = await Client.connect(live.ws, bob)
    assert valid(await phone.expect("notifications.unread"))["unread"] == 1000
    # A new blog's fan-out counts its batch of followers together: still the bound.
    blog = await publish(live.http, ann, title="Trip")
    event = valid(await phone.expect("notification"))
    assert (event["notification"]["blog_id"], event["unread"]) == (blog["id"], 1000)

    # 1,201 unread; read 202 of them and the count is exact again below the bound.
    await live.services.pool.execute(
        "UPDATE notifications SET read_at = now() WHERE recipient_id = $1 AND kind = 'notice'"
        " AND subject IN (SELECT 'notice:' || i FROM generate_series(1, 202) i)", bob["id"])
    assert await counts() == (999, 999)
    r = await live.http.post(f"/api/v1/notifications/{event['notification']['id']}/read",
                             headers=bearer(bob))
    assert r.json() == {"unread": 998}
    assert valid(await phone.expect("notifications.unread"))["unread"] == 998
    await phone.close()
