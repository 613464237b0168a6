"""Audience on every read path, against the real PostgreSQL: reader (author, friend,
follower, stranger, anonymous, blocked) x audience (public, followers, friends) x path.
Each reader sees exactly the blogs its audience admits, nowhere more."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from tests.support.http import bearer, sign_up
from tests.support.sitemaps import sitemap_locs

AUDIENCES = ("public", "followers", "friends")
# Who is in each audience of the author's (a block always takes the reader out).
ADMITTED = {
    "author": {"public", "followers", "friends"},
    "friend": {"public", "followers", "friends"},
    "follower": {"public", "followers"},
    "stranger": {"public"},
    "anonymous": {"public"},
    "blocked": set(),
}


async def world(client, services) -> dict:
    author, friend, follower, stranger, blocked = [
        await sign_up(client, name=n) for n in ("Author", "Friend", "Follower", "Stranger",
                                                  "Blocked")]
    ids = {k: s["user"]["id"] for k, s in (("author", author), ("friend", friend),
                                           ("follower", follower), ("blocked", blocked))}
    social = services.social
    await social.send_friend_request(ids["friend"], ids["author"])
    await social.accept_friend_request(ids["author"], ids["friend"])
    await social.follow(ids["follower"], ids["author"])
    # Once a friend and a follower: the block must hide what those links would show.
    await social.send_friend_request(ids["blocked"], ids["author"])
    await social.accept_friend_request(ids["author"], ids["blocked"])
    await social.follow(ids["blocked"], ids["author"])
    await social.block(ids["author"], ids["blocked"])
    blogs = {}
    for audience in AUDIENCES:
        r = await client.post("/api/v1/blog", headers=bearer(author), json={
            "title": f"Matrix {audience}", "body": "matrix words", "tags": ["matrix"],
            "audience": audience})
        assert r.status_code == 201, r.text
        blogs[audience] = r.json()
        # A comment by the author, so the comment list has something to leak.
        r = await client.post(f"/api/v1/blog/{r.json()['id']}/comments",
                              headers=bearer(author), json={"body": "first"})
        assert r.status_code == 201
    client.cookies.clear()  # from here on, who reads is only what each request carries
    return {"sessions": {"author": author, "friend": friend, "follower": follower,
                         "stranger": stranger, "blocked": blocked, "anonymous": None},
            "blogs": blogs, "author_id": ids["author"]}


def audiences_in(blogs: dict, listed_ids) -> set[str]:
    listed = set(listed_ids)
    return {a for a, b in blogs.items() if b["id"] in listed}


@pytest.mark.parametrize("reader", list(ADMITTED))
async def test_every_read_path_shows_a_reader_exactly_its_audiences(client, services, reader):
    w = await world(client, services)
    session, blogs = w["sessions"][reader], w["blogs"]
    h = bearer(session) if session else {}
    expected = ADMITTED[reader]
    seen: dict[str, set[str]] = {}

    async def listed(name: str, url: str, **params) -> None:
        r = await client.get(url, params=params, headers=h)
        assert r.status_code == 200, (name, r.text)
        seen[name] = audiences_in(blogs, [b["id"] for b in r.json()["blogs"]])

    await listed("feed", "/api/v1/feed")
    await listed("bulk", "/api/v1/blog/bulk")
    await listed("paginated_bulk", "/api/v1/blog/paginated_bulk")
    await listed("search", "/api/v1/blog/search", q="matrix")
    await listed("author page", "/api/v1/blog/search", author=w["author_id"])
    await listed("tag search", "/api/v1/blog/search", tag="matrix")
    if session is not None and reader != "author":
        await listed("following feed", "/api/v1/feed", following="true")
    for name, path in (("single", "/api/v1/blog/{id}"), ("slug", "/api/v1/blog/slug/{slug}"),
                       ("comments", "/api/v1/blog/{id}/comments"),
                       ("who reacted", "/api/v1/blog/{id}/reactions")):
        found = set()
        for audience, blog in blogs.items():
            r = await client.get(path.format(**blog), headers=h)
            assert r.status_code in (200, 404), (name, r.text)
            if r.status_code == 200:
                found.add(audience)
        seen[name] = found
    if session is not None:
        found = set()
        for audience, blog in blogs.items():
            r = await client.post(f"/api/v1/blog/{blog['id']}/like", headers=h)
            assert r.status_code in (200, 404), r.text
            if r.status_code == 200:
                found.add(audience)
        seen["like"] = found
        found = set()
        for audience, blog in blogs.items():
            r = await client.put(f"/api/v1/blog/{blog['id']}/reaction", headers=h,
                                 json={"kind": "love"})
            assert r.status_code in (200, 404), r.text
            if r.status_code == 200:
                found.add(audience)
        seen["reaction"] = found
        r = await client.get("/api/v1/notifications", headers=h)
        notified = audiences_in(blogs, [n["blog_id"] for n in r.json()["items"]
                                        if n["kind"] == "new_blog"])
        # Told of a new blog: the author's followers, within its audience.
        assert notified == (expected if reader == "follower" else set()), (reader, notified)
        stats = (await client.get("/api/v1/blog/stats", headers=h)).json()
        assert stats["blogs"] == (3 if reader == "author" else 0)

    # paginated_bulk's total is what this reader may read: a stranger watching it learns
    # nothing of followers- or friends-only posts.
    r = await client.get("/api/v1/blog/paginated_bulk", headers=h)
    assert r.json()["total"] == len(expected) == len(r.json()["blogs"]), (reader, r.json())

    # The author's profile counts only what this reader may read, so it reveals no
    # followers- or friends-only blog (the author blocked `blocked`: no profile at all).
    r = await client.get(f"/api/v1/users/{w['author_id']}", headers=h)
    if reader == "blocked":
        assert r.status_code == 404
    else:
        assert r.json()["counts"]["blogs"] == len(expected), (reader, r.json()["counts"])
        page = await client.get(f"/people/{w['author_id']}",
                                headers={"Cookie": f"jwt={session['jwt']}"} if session else {})
        assert f"<strong>{len(expected)}</strong> blog" in page.text, reader

    for name, audiences in seen.items():
        if name == "following feed":
            # Only people one follows or befriended: the stranger's is empty whatever.
            want = expected if reader in ("friend", "follower") else set()
            assert audiences == want, (reader, name, audiences)
        else:
            assert audiences == expected, (reader, name, audiences)

    # Documents for feed readers and crawlers: public blogs only, whoever asks.
    for url in ("/feed.xml", f"/people/{w['author_id']}/feed.xml", "/tags/matrix/feed.xml"):
        r = await client.get(url, headers=h)
        titles = {i.findtext("title") for i in ET.fromstring(r.content).iter("item")}
        assert titles == {"Matrix public"}, (reader, url)
    locs = await sitemap_locs(client, h)
    assert [loc.rsplit("/", 1)[1] for loc in locs] == ["", "matrix-public"]


async def test_the_author_can_change_the_audience(client, services):
    ann, bob = await sign_up(client), await sign_up(client)
    r = await client.post("/api/v1/blog", headers=bearer(ann), json={
        "title": "Close", "body": "b", "audience": "friends"})
    blog = r.json()
    assert blog["audience"] == "friends"
    assert (await client.get(f"/api/v1/blog/{blog['id']}", headers=bearer(bob))).status_code \
        == 404
    r = await client.put(f"/api/v1/blog/{blog['id']}", headers=bearer(ann),
                         json={"updated_at": blog["updated_at"], "audience": "public"})
    assert r.status_code == 200 and r.json()["audience"] == "public"
    assert (await client.get(f"/api/v1/blog/{blog['id']}", headers=bearer(bob))).status_code \
        == 200
    r = await client.post("/api/v1/blog", headers=bearer(ann), json={
        "title": "Bad", "body": "b", "audience": "everyone"})
    assert r.status_code == 422


async def test_the_public_count_follows_audience_hiding_and_deletion(client, services):
    """paginated_bulk's total for anonymous readers is a counter kept by triggers: it must
    agree with a real count after every kind of write that moves a blog in or out."""
    pool = services.pool

    async def agree() -> int:
        kept = await pool.fetchval("SELECT value FROM blog_counters WHERE name = 'public'")
        real = await pool.fetchval(
            "SELECT count(*) FROM blogs WHERE status = 'published' AND audience = 'public' "
            "AND hidden_at IS NULL")
        assert kept == real
        return real

    ann = await sign_up(client)
    made = {}
    for audience in AUDIENCES:
        r = await client.post("/api/v1/blog", headers=bearer(ann), json={
            "title": f"Count {audience}", "body": "b", "audience": audience})
        made[audience] = r.json()
    await client.post("/api/v1/blog", headers=bearer(ann), json={
        "title": "Count draft", "body": "b", "status": "draft"})
    assert await agree() == 1
    r = await client.put(f"/api/v1/blog/{made['friends']['id']}", headers=bearer(ann), json={
        "updated_at": made["friends"]["updated_at"], "audience": "public"})
    assert r.status_code == 200
    assert await agree() == 2
    r = await client.put(f"/api/v1/blog/{made['public']['id']}", headers=bearer(ann), json={
        "updated_at": made["public"]["updated_at"], "audience": "followers"})
    assert r.status_code == 200
    assert await agree() == 1
    # Moderation hides by setting hidden_at; a like (likes_count) must not move the count.
    friends_id = made["friends"]["id"]
    await pool.execute("UPDATE blogs SET hidden_at = now() WHERE id = $1", friends_id)
    assert await agree() == 0
    await pool.execute("UPDATE blogs SET hidden_at = now() + interval '1 s' WHERE id = $1",
                       friends_id)
    assert await agree() == 0
    await pool.execute("UPDATE blogs SET hidden_at = NULL WHERE id = $1", friends_id)
    assert await agree() == 1
    await pool.execute("UPDATE blogs SET likes_count = likes_count WHERE id = $1", friends_id)
    assert await agree() == 1
    r = await client.delete(f"/api/v1/blog/{friends_id}", headers=bearer(ann))
    assert r.status_code == 204
    assert await agree() == 0
