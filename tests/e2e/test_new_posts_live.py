"""Live new posts (MySocial's "add post") over real sockets: when a blog is published, now or
by the scheduler, the open sockets of the author's followers that its audience admits get
`blog.published`; strangers, the blocked, the author's own sockets and drafts get nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.chat_client import Client
from tests.support.http import bearer
from tests.support.people import befriend, block, user

pytestmark = pytest.mark.anyio


async def follow(services, follower: int, followee: int) -> None:
    await services.pool.execute(
        "INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2)", follower, followee)


async def publish(live, author: dict, title: str, **over) -> dict:
    r = await live.http.post("/api/v1/blog", headers=bearer(author),
                             json={"title": title, "body": "words", **over})
    assert r.status_code == 201, r.text
    return r.json()


async def heard_nothing(client: Client) -> bool:
    # Frames are queued before the publishing request answers: a ping's pong comes after
    # any that was meant for this socket.
    assert (await client.command("ping"))["type"] == "pong"
    return all(f["type"] != "blog.published" for f in client.backlog)


async def test_followers_hear_of_a_new_post_within_its_audience(live):
    s = live.services
    ann, fan, pal, nobody, banned = [await user(live.http) for _ in range(5)]
    await follow(s, fan["id"], ann["id"])
    await befriend(s, pal["id"], ann["id"])
    await follow(s, banned["id"], ann["id"])
    await block(s, ann["id"], banned["id"])  # the follow row stays: the block alone decides
    sockets = {name: await Client.connect(live.ws, who) for name, who in
               (("ann", ann), ("fan", fan), ("pal", pal), ("nobody", nobody),
                ("banned", banned))}

    blog = await publish(live, ann, "Public news", summary="short")
    for name in ("fan", "pal"):
        event = await sockets[name].expect("blog.published")
        assert event["blog"] == {
            "id": blog["id"], "slug": blog["slug"], "title": "Public news", "summary": "short",
            "audience": "public", "published_at": event["blog"]["published_at"],
            "author": {"id": ann["id"], "username": blog["author"]["username"],
                       "name": blog["author"]["name"], "avatar": None},
            "link": f"/blogs/{blog['id']}"}
        assert datetime.fromisoformat(event["blog"]["published_at"]) == \
            datetime.fromisoformat(blog["published_at"])
    for name in ("ann", "nobody", "banned"):
        assert await heard_nothing(sockets[name]), name

    await publish(live, ann, "For followers", audience="followers")
    for name in ("fan", "pal"):
        assert (await sockets[name].expect("blog.published"))["blog"]["title"] == "For followers"
    await publish(live, ann, "For friends", audience="friends")
    assert (await sockets["pal"].expect("blog.published"))["blog"]["title"] == "For friends"
    for name in ("fan", "ann", "nobody", "banned"):
        assert await heard_nothing(sockets[name]), name
    for socket in sockets.values():
        await socket.close()


async def test_drafts_are_silent_until_published_and_the_scheduler_announces(live):
    s = live.services
    ann, fan = await user(live.http), await user(live.http)
    await follow(s, fan["id"], ann["id"])
    fan_socket = await Client.connect(live.ws, fan)

    draft = await publish(live, ann, "Draft", status="draft")
    assert await heard_nothing(fan_socket)
    r = await live.http.put(f"/api/v1/blog/{draft['id']}", headers=bearer(ann),
                            json={"updated_at": draft["updated_at"], "status": "published"})
    assert r.status_code == 200, r.text
    assert (await fan_socket.expect("blog.published"))["blog"]["id"] == draft["id"]

    at = datetime.now(timezone.utc) + timedelta(seconds=1)
    later = await publish(live, ann, "Later", status="scheduled", published_at=at.isoformat())
    assert await heard_nothing(fan_socket)
    await asyncio.sleep(max(0.0, (at - datetime.now(timezone.utc)).total_seconds()) + 0.05)
    await s.blogs.publish_due()  # what the publisher task calls (it may have done it first)
    assert (await fan_socket.expect("blog.published"))["blog"]["id"] == later["id"]
    await fan_socket.close()
