"""Feeds, pages, search, likes and comments over HTTP, against the real PostgreSQL."""

from __future__ import annotations

import asyncio

from tests.support.blogs import post
from tests.support.http import bearer, sign_up


def ids(response) -> list[int]:
    return [b["id"] for b in response.json()["blogs"]]


async def test_feed_pages_by_cursor_and_stays_stable_when_posts_arrive(client):
    ann = await sign_up(client)
    blogs = [await post(client, ann, f"Post {i}") for i in range(5)]
    newest_first = [b["id"] for b in reversed(blogs)]
    first = await client.get("/api/v1/feed", params={"limit": 2})
    assert ids(first) == newest_first[:2]
    await post(client, ann, "Arrived meanwhile")  # must not shift the next page
    second = await client.get("/api/v1/feed",
                              params={"limit": 2, "cursor": first.json()["next_cursor"]})
    assert ids(second) == newest_first[2:4]
    third = await client.get("/api/v1/feed",
                             params={"limit": 2, "cursor": second.json()["next_cursor"]})
    assert ids(third) == newest_first[4:]
    assert third.json()["next_cursor"] is None


async def test_following_feed_has_followed_people_and_friends_only(client, services):
    me, followed, friend, stranger = [await sign_up(client) for _ in range(4)]
    mine = await post(client, me, "Mine")
    by_followed = await post(client, followed, "Followed")
    by_friend = await post(client, friend, "Friend")
    await post(client, stranger, "Stranger")
    my_id, friend_id = me["user"]["id"], friend["user"]["id"]
    await services.pool.execute("INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2)",
                                my_id, followed["user"]["id"])
    await services.pool.execute(
        "INSERT INTO friendships (user_id, friend_id) VALUES ($1, $2), ($2, $1)", my_id, friend_id)
    r = await client.get("/api/v1/feed", params={"following": "true"}, headers=bearer(me))
    assert ids(r) == [by_friend["id"], by_followed["id"]]
    assert mine["id"] not in ids(r)
    r = await client.get("/api/v1/feed", params={"following": "true"})
    assert r.status_code == 401


async def test_paginated_bulk_answers_the_seed_shape_with_a_maintained_total(client):
    ann = await sign_up(client)
    blogs = [await post(client, ann, f"P{i}") for i in range(5)]
    await post(client, ann, "Draft", status="draft")
    r = await client.get("/api/v1/blog/paginated_bulk", params={"page": 2, "limit": 2})
    body = r.json()
    assert set(body) == {"blogs", "total", "page", "limit", "totalPages"}
    assert (body["total"], body["page"], body["limit"], body["totalPages"]) == (5, 2, 2, 3)
    assert ids(r) == [blogs[2]["id"], blogs[1]["id"]]
    await client.delete(f"/api/v1/blog/{blogs[0]['id']}", headers=bearer(ann))
    r = await client.get("/api/v1/blog/paginated_bulk")
    assert r.json()["total"] == 4 == len(r.json()["blogs"])
    bulk = (await client.get("/api/v1/blog/bulk")).json()
    assert len(bulk["blogs"]) == 4 and not bulk["capped"]
    assert all(b["author"]["id"] == ann["user"]["id"] for b in bulk["blogs"])


async def test_search_ranks_title_above_body_and_folds_accents(client):
    ann = await sign_up(client)
    in_body = await post(client, ann, "Morning notes", body="We found a tiny café downtown")
    in_title = await post(client, ann, "Best Café in town", body="Coffee, mostly")
    await post(client, ann, "Unrelated", body="Nothing to see")
    r = await client.get("/api/v1/blog/search", params={"q": "cafe"})
    assert r.status_code == 200
    assert ids(r) == [in_title["id"], in_body["id"]]


async def test_search_filters_combine(client):
    ann, bob = await sign_up(client), await sign_up(client)
    paris = {"city": "Paris", "country": "France"}
    a = await post(client, ann, "Bread", tags=["food"], location=paris)
    await post(client, ann, "Cheese", tags=["food"], location={"city": "Lyon", "country": "France"})
    await post(client, bob, "Wine", tags=["food"], location=paris)
    await post(client, ann, "Metro", tags=["transport"], location=paris)
    params = {"author": ann["user"]["id"], "tag": "FOOD", "city": "paris", "country": "FRANCE"}
    r = await client.get("/api/v1/blog/search", params=params)
    assert ids(r) == [a["id"]]
    r = await client.get("/api/v1/blog/search", params={"country": "france", "limit": 2})
    assert len(ids(r)) == 2 and r.json()["has_more"] is True
    r = await client.get("/api/v1/blog/search", params={"from": "2999-01-01"})
    assert ids(r) == []
    r = await client.get("/api/v1/blog/search", params={"to": a["published_at"], "tag": "food"})
    assert ids(r) == [a["id"]]


async def test_likes_are_idempotent_and_counted_exactly(client):
    ann = await sign_up(client)
    fans = [await sign_up(client) for _ in range(3)]
    blog = await post(client, ann, "Likeable")
    url = f"/api/v1/blog/{blog['id']}/like"
    results = await asyncio.gather(*[client.post(url, headers=bearer(f)) for f in fans * 2])
    assert all(r.status_code == 200 for r in results)
    assert (await client.get(f"/api/v1/blog/{blog['id']}")).json()["likes_count"] == 3
    r = await client.delete(url, headers=bearer(fans[0]))
    assert r.json() == {"liked": False, "likes_count": 2}
    r = await client.delete(url, headers=bearer(fans[0]))
    assert r.json() == {"liked": False, "likes_count": 2}
    stats = (await client.get("/api/v1/blog/stats", headers=bearer(ann))).json()
    assert stats == {"blogs": 1, "published": 1, "total_likes": 2}
    draft = await post(client, ann, "Draft", status="draft")
    r = await client.post(f"/api/v1/blog/{draft['id']}/like", headers=bearer(ann))
    assert r.status_code == 409


async def test_comments_crud_and_who_may_delete(client):
    ann, bob, cid = [await sign_up(client) for _ in range(3)]
    blog = await post(client, ann, "Talk to me")
    base = f"/api/v1/blog/{blog['id']}/comments"
    made = []
    for who, text in ((bob, "first"), (cid, "second"), (bob, "third")):
        r = await client.post(base, json={"body": text}, headers=bearer(who))
        assert r.status_code == 201
        made.append(r.json())
    r = await client.get(base, params={"limit": 2, "page": 2})
    assert [c["body"] for c in r.json()["comments"]] == ["third"]
    assert (r.json()["total"], r.json()["totalPages"]) == (3, 2)
    first = f"{base}/{made[0]['id']}"
    assert (await client.put(first, json={"body": "x"}, headers=bearer(cid))).status_code == 403
    r = await client.put(first, json={"body": "edited"}, headers=bearer(bob))
    assert r.status_code == 200 and r.json()["body"] == "edited"
    assert (await client.put(first, json={"body": " "}, headers=bearer(bob))).status_code == 422
    assert (await client.delete(first, headers=bearer(cid))).status_code == 403
    assert (await client.delete(first, headers=bearer(bob))).status_code == 204
    # The blog's author may delete anyone's comment on it.
    r = await client.delete(f"{base}/{made[1]['id']}", headers=bearer(ann))
    assert r.status_code == 204
    assert (await client.get(f"/api/v1/blog/{blog['id']}")).json()["comments_count"] == 1
    other = await post(client, ann, "Another")
    r = await client.delete(f"/api/v1/blog/{other['id']}/comments/{made[2]['id']}",
                            headers=bearer(ann))
    assert r.status_code == 404  # a comment is reached through its own blog only


async def test_every_blog_route_is_in_openapi(client):
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path, method in [("/api/v1/blog/bulk", "get"), ("/api/v1/blog/paginated_bulk", "get"),
                         ("/api/v1/blog/{id}", "put"), ("/api/v1/blog", "post"),
                         ("/api/v1/blog/stats", "get"), ("/api/v1/feed", "get"),
                         ("/api/v1/blog/search", "get"), ("/api/v1/blog/{id}/like", "delete"),
                         ("/api/v1/blog/{id}/comments/{comment_id}", "delete"),
                         ("/api/v1/locations", "get"), ("/api/v1/blog/slug/{slug}", "get")]:
        assert method in paths[path], (path, method)
    assert "BlogOut" in spec["components"]["schemas"]
    params = {p["name"] for p in paths["/api/v1/blog/search"]["get"]["parameters"]}
    assert {"q", "author", "tag", "city", "country", "from", "to", "page", "limit"} <= params


async def test_anonymous_lists_are_cached_but_never_hide_a_publish_edit_or_delete(client):
    # Anonymous feed and paginated_bulk pages come from the in-process page cache; every
    # publish, edit and delete must show on the next read all the same.
    ann = await sign_up(client)
    first = await post(client, ann, "First")
    client.cookies.clear()  # anonymous from here; writes carry the Bearer token

    async def anonymous() -> tuple[list[dict], list[dict]]:
        feed = await client.get("/api/v1/feed")
        page = await client.get("/api/v1/blog/paginated_bulk", params={"page": 1})
        assert feed.status_code == page.status_code == 200
        return feed.json()["blogs"], page.json()["blogs"]

    assert [[b["title"] for b in lst] for lst in await anonymous()] == [["First"]] * 2
    second = await post(client, ann, "Second")
    assert [[b["title"] for b in lst] for lst in await anonymous()] == [["Second", "First"]] * 2
    r = await client.put(f"/api/v1/blog/{first['id']}", headers=bearer(ann),
                         json={"title": "First, edited", "updated_at": first["updated_at"]})
    assert r.status_code == 200, r.text
    assert [[b["title"] for b in lst] for lst in await anonymous()] == [
        ["Second", "First, edited"]] * 2
    r = await client.delete(f"/api/v1/blog/{second['id']}", headers=bearer(ann))
    assert r.status_code == 204
    feed, page = await anonymous()
    assert [b["title"] for b in feed] == [b["title"] for b in page] == ["First, edited"]
    assert (await client.get("/api/v1/blog/paginated_bulk")).json()["total"] == 1


async def test_a_signed_in_reader_never_gets_the_anonymous_page_with_blocked_authors(client):
    ann, bob = await sign_up(client), await sign_up(client)
    await post(client, ann, "By Ann")
    client.cookies.clear()
    assert ids(await client.get("/api/v1/feed"))  # the anonymous page is now cached
    r = await client.post(f"/api/v1/blocks/{ann['user']['id']}", headers=bearer(bob))
    assert r.status_code in (200, 201, 204), r.text
    assert ids(await client.get("/api/v1/feed", headers=bearer(bob))) == []
    assert ids(await client.get("/api/v1/blog/paginated_bulk", headers=bearer(bob))) == []
