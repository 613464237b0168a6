"""Notifications on the real PostgreSQL: what actions over HTTP leave in the recipient's
list through the domain events, coalescing under concurrency, and undo."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.notifications.entities import Kind
from nirvana.domain.notifications.policy import summary
from tests.support.http import bearer, sign_up

pytestmark = pytest.mark.anyio


def uid(session: dict) -> int:
    return session["user"]["id"]


async def blog_by(client, author: dict, body: str = "Hello") -> int:
    r = await client.post("/api/v1/blog", json={"title": "Trip", "body": body},
                          headers=bearer(author))
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def listed(services, user: dict):
    return (await services.notifications.page(uid(user), None, 50)).items


async def test_likes_from_many_people_at_once_are_one_notification(client, services):
    author = await sign_up(client)
    likers = [await sign_up(client) for _ in range(12)]
    blog_id = await blog_by(client, author)

    rs = await asyncio.gather(*(client.post(f"/api/v1/blog/{blog_id}/like", headers=bearer(p))
                                for p in likers))
    assert all(r.status_code == 200 for r in rs)

    await services.notifications.settled()  # likes meanwhile were written as one batch
    [n] = await listed(services, author)
    assert n.kind is Kind.BLOG_LIKED and n.actor_count == 12 and n.blog_title == "Trip"
    assert len(n.actors) == 3
    assert summary(n).endswith("and 11 others liked “Trip”")
    assert await services.notifications.unread_count(uid(author)) == 1

    # Concurrent unlikes take exactly their likers off, and the last one withdraws it.
    await asyncio.gather(*(client.delete(f"/api/v1/blog/{blog_id}/like", headers=bearer(p))
                           for p in likers[:11]))
    [n] = await listed(services, author)
    assert n.actor_count == 1 and [a.id for a in n.actors] == [uid(likers[11])]
    await client.delete(f"/api/v1/blog/{blog_id}/like", headers=bearer(likers[11]))
    assert await listed(services, author) == []


async def test_friend_requests_follows_and_blocks_over_http(client, services):
    ann, bob = await sign_up(client), await sign_up(client)
    await client.post(f"/api/v1/friends/requests/{uid(bob)}", headers=bearer(ann))
    await client.post(f"/api/v1/follows/{uid(bob)}", headers=bearer(ann))
    kinds = [n.kind for n in await listed(services, bob)]
    assert sorted(kinds) == [Kind.FRIEND_REQUEST, Kind.NEW_FOLLOWER]

    await client.post(f"/api/v1/blocks/{uid(ann)}", headers=bearer(bob))
    assert await listed(services, bob) == []
    assert await services.notifications.unread_count(uid(bob)) == 0


async def test_a_comment_with_a_mention_and_its_deletion(client, services):
    author, commenter, cat = [await sign_up(client) for _ in range(3)]
    blog_id = await blog_by(client, author)
    r = await client.post(f"/api/v1/blog/{blog_id}/comments",
                          json={"body": f"look @{cat['user']['username']}"},
                          headers=bearer(commenter))
    comment_id = r.json()["id"]
    assert [n.kind for n in await listed(services, author)] == [Kind.BLOG_COMMENTED]
    [mention] = await listed(services, cat)
    assert (mention.kind, mention.blog_id, mention.comment_id) == (Kind.MENTIONED, blog_id,
                                                                  comment_id)

    await client.delete(f"/api/v1/blog/{blog_id}/comments/{comment_id}",
                        headers=bearer(commenter))
    assert await listed(services, author) == [] and await listed(services, cat) == []


async def test_a_new_blog_reaches_followers_and_read_ones_stay(client, services):
    author, reader = await sign_up(client), await sign_up(client)
    await client.post(f"/api/v1/follows/{uid(author)}", headers=bearer(reader))
    # A draft tells nobody; its publication does.
    r = await client.post("/api/v1/blog", json={"title": "Soon", "body": "x",
                                                "status": "draft"}, headers=bearer(author))
    assert await listed(services, reader) == []
    blog = r.json()
    await client.put(f"/api/v1/blog/{blog['id']}", json={"updated_at": blog["updated_at"],
                                                         "status": "published"},
                     headers=bearer(author))
    [n] = await listed(services, reader)
    assert n.kind is Kind.NEW_BLOG and n.blog_id == blog["id"]

    assert await services.notifications.mark_all_read(uid(reader)) == 0
    [n] = await listed(services, reader)
    assert n.read


async def test_a_new_blog_tells_each_of_many_followers_once(client, services):
    author = await sign_up(client)
    followers = [await sign_up(client) for _ in range(25)]
    for f in followers:
        await client.post(f"/api/v1/follows/{uid(author)}", headers=bearer(f))
    mentioned = followers[0]
    blog_id = await blog_by(client, author, body=f"with @{mentioned['user']['username']}")

    for f in followers:
        [n] = await listed(services, f)
        assert n.blog_id == blog_id and n.actor_count == 1
        assert n.kind is (Kind.MENTIONED if f is mentioned else Kind.NEW_BLOG)
        assert summary(n) == (f"{author['user']['name']} mentioned you in “Trip”"
                              if f is mentioned else
                              f"{author['user']['name']} published “Trip”")
    # The author is told of their followers, never of their own blog.
    assert {n.kind for n in await listed(services, author)} == {Kind.NEW_FOLLOWER}
