"""Blogs over HTTP, against the real PostgreSQL: writing, reading, rules and bad input."""

from __future__ import annotations

import asyncio

from tests.support.http import bearer, sign_up

BLOG = {"title": "First light", "body": "Hello **world**", "summary": "A start",
        "tags": ["Travel", "travel", " Slow  Food "], "location": {"city": "Zürich",
                                                                   "country": "Switzerland"}}


async def post_blog(client, session, **over) -> dict:
    r = await client.post("/api/v1/blog", json={**BLOG, **over}, headers=bearer(session))
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_and_read_a_blog_with_author_location_and_tags(client):
    ann = await sign_up(client, username="ann")
    blog = await post_blog(client, ann)
    assert blog["status"] == "published" and blog["published_at"]
    assert blog["tags"] == ["travel", "slow food"]
    assert blog["author"]["username"] == "ann"
    assert blog["location"]["city"] == "Zürich"
    assert blog["likes_count"] == blog["comments_count"] == 0
    r = await client.get(f"/api/v1/blog/{blog['id']}")  # anonymous readers are welcome
    assert r.status_code == 200 and r.json() == blog


async def test_location_is_shared_case_and_accent_insensitively(client):
    ann = await sign_up(client)
    a = await post_blog(client, ann)
    b = await post_blog(client, ann, location={"city": "ZURICH", "country": "switzerland"})
    assert a["location"] == b["location"]  # same id, first writer's spelling
    r = await client.get("/api/v1/locations", params={"q": "zur"})
    assert r.status_code == 200
    assert r.json()["locations"] == [a["location"]]
    r = await client.get("/api/v1/locations", params={"q": "%"})
    assert r.json()["locations"] == []  # wildcards are literal


async def test_sql_and_html_in_every_text_field_come_back_literally(client):
    ann = await sign_up(client)
    nasty = "<script>alert(1)</script>'); DROP TABLE blogs; --"
    tag = "<b>x</b>'; drop table--"
    blog = await post_blog(client, ann, title=nasty, body=nasty, summary=nasty, tags=[tag],
                           location={"city": nasty, "country": nasty})
    r = await client.get(f"/api/v1/blog/{blog['id']}")
    got = r.json()
    assert got["title"] == got["body"] == got["summary"] == nasty
    assert got["tags"] == [tag]
    assert got["location"]["city"] == nasty
    r = await client.post(f"/api/v1/blog/{blog['id']}/comments", json={"body": nasty},
                          headers=bearer(ann))
    assert r.status_code == 201 and r.json()["body"] == nasty
    r = await client.get("/api/v1/blog/search", params={"q": nasty, "tag": tag, "city": nasty})
    assert r.status_code == 200 and [b["id"] for b in r.json()["blogs"]] == [blog["id"]]


async def test_bad_input_is_422_with_field_details(client):
    ann = await sign_up(client)
    h = bearer(ann)
    r = await client.post("/api/v1/blog", json={"body": "x"}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "title"
    r = await client.post("/api/v1/blog", json={**BLOG, "title": "t" * 201}, headers=h)
    assert r.status_code == 422
    r = await client.post("/api/v1/blog", json={**BLOG, "title": "   "}, headers=h)
    assert r.status_code == 422
    r = await client.post("/api/v1/blog", json={**BLOG, "header_image": "javascript:alert(1)"},
                          headers=h)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "header_image"
    r = await client.post("/api/v1/blog", json={**BLOG, "images": ["/media/a.png"] * 11},
                          headers=h)
    assert r.status_code == 422
    r = await client.post("/api/v1/blog", json={**BLOG, "body": "nul\u0000byte"}, headers=h)
    assert r.status_code == 422
    r = await client.post("/api/v1/blog", json={**BLOG, "author_id": 5}, headers=h)
    assert r.status_code == 422  # the author comes from the token only
    for params in ({"limit": 0}, {"limit": 10**6}, {"page": -1}, {"page": "x"}):
        r = await client.get("/api/v1/blog/paginated_bulk", params=params)
        assert r.status_code == 422, params
        assert r.json()["error"]["code"] == "validation_error"
    r = await client.get("/api/v1/feed", params={"cursor": "garbage!"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "cursor"
    r = await client.get("/api/v1/blog/search", params={"from": "2030-01-01", "to": "2020-01-01"})
    assert r.status_code == 422


async def test_unknown_ids_are_404(client):
    ann = await sign_up(client)
    for path in ("/api/v1/blog/999", f"/api/v1/blog/{10**30}", "/api/v1/blog/999/comments"):
        r = await client.get(path)
        assert r.status_code == 404, path
    r = await client.put("/api/v1/blog/999", json={"updated_at": "2024-01-01T00:00:00Z"},
                         headers=bearer(ann))
    assert r.status_code == 404
    r = await client.post("/api/v1/blog/999/like", headers=bearer(ann))
    assert r.status_code == 404


async def test_only_the_author_edits_or_deletes(client):
    ann, bob = await sign_up(client), await sign_up(client)
    blog = await post_blog(client, ann)
    edit = {"updated_at": blog["updated_at"], "title": "Mine now"}
    r = await client.put(f"/api/v1/blog/{blog['id']}", json=edit, headers=bearer(bob))
    assert r.status_code == 403
    r = await client.delete(f"/api/v1/blog/{blog['id']}", headers=bearer(bob))
    assert r.status_code == 403
    r = await client.put(f"/api/v1/blog/{blog['id']}", json=edit)
    assert r.status_code == 401
    r = await client.delete(f"/api/v1/blog/{blog['id']}", headers=bearer(ann))
    assert r.status_code == 204
    assert (await client.get(f"/api/v1/blog/{blog['id']}")).status_code == 404


async def test_stale_edit_is_409_and_does_not_overwrite(client):
    ann = await sign_up(client)
    blog = await post_blog(client, ann)
    url = f"/api/v1/blog/{blog['id']}"
    first = await client.put(url, json={"updated_at": blog["updated_at"], "title": "Second"},
                             headers=bearer(ann))
    assert first.status_code == 200 and first.json()["title"] == "Second"
    assert first.json()["updated_at"] > blog["updated_at"]
    assert first.json()["body"] == blog["body"]  # omitted fields keep their value
    stale = await client.put(url, json={"updated_at": blog["updated_at"], "title": "Stale"},
                             headers=bearer(ann))
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_update"
    assert (await client.get(url)).json()["title"] == "Second"


async def test_concurrent_edits_from_one_version_let_exactly_one_win(client):
    ann = await sign_up(client)
    blog = await post_blog(client, ann)
    results = await asyncio.gather(*[
        client.put(f"/api/v1/blog/{blog['id']}",
                   json={"updated_at": blog["updated_at"], "title": f"Edit {i}"},
                   headers=bearer(ann))
        for i in range(5)
    ])
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409, 409]


async def test_edit_clears_location_and_publishes_a_draft(client):
    ann = await sign_up(client)
    draft = await post_blog(client, ann, status="draft", body="")
    assert draft["published_at"] is None
    r = await client.put(f"/api/v1/blog/{draft['id']}",
                         json={"updated_at": draft["updated_at"], "status": "published"},
                         headers=bearer(ann))
    assert r.status_code == 422  # an empty body cannot be published
    r = await client.put(f"/api/v1/blog/{draft['id']}",
                         json={"updated_at": draft["updated_at"], "status": "published",
                               "body": "Now there is text", "location": None},
                         headers=bearer(ann))
    assert r.status_code == 200
    assert r.json()["published_at"] and r.json()["location"] is None


async def test_drafts_are_visible_to_their_author_only(client):
    ann, bob = await sign_up(client), await sign_up(client)
    draft = await post_blog(client, ann, status="draft")
    url = f"/api/v1/blog/{draft['id']}"
    assert (await client.get(url, headers=bearer(ann))).status_code == 200
    assert (await client.get(url, headers=bearer(bob))).status_code == 404
    assert (await client.get(url)).status_code == 404
    r = await client.get("/api/v1/blog/paginated_bulk")
    assert r.json()["blogs"] == [] and r.json()["total"] == 0
    r = await client.get("/api/v1/blog/stats", headers=bearer(ann))
    assert r.json() == {"blogs": 1, "published": 0, "total_likes": 0}


async def test_blocked_users_see_nothing_and_cannot_like_or_comment(client, services):
    ann, bob, cid = await sign_up(client), await sign_up(client), await sign_up(client)
    blog = await post_blog(client, ann)
    await services.pool.execute("INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)",
                                ann["user"]["id"], bob["user"]["id"])
    url = f"/api/v1/blog/{blog['id']}"
    assert (await client.get(url, headers=bearer(bob))).status_code == 404
    assert (await client.post(url + "/like", headers=bearer(bob))).status_code == 404
    r = await client.post(url + "/comments", json={"body": "hi"}, headers=bearer(bob))
    assert r.status_code == 404
    for path in ("/api/v1/feed", "/api/v1/blog/paginated_bulk", "/api/v1/blog/bulk",
                 "/api/v1/blog/search"):
        r = await client.get(path, headers=bearer(bob))
        assert r.json()["blogs"] == [], path
        r = await client.get(path, headers=bearer(cid))
        assert len(r.json()["blogs"]) == 1, path
