"""Anonymous reads served from the page cache (search, one blog, feeds, sitemap) follow every
publish, edit, audience change and delete at once, and answer conditional GETs."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from tests.support.blogs import edit, post
from tests.support.http import bearer, sign_up
from tests.support.sitemaps import sitemap_locs


def found(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [b["title"] for b in response.json()["blogs"]]


def rss_titles(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [i.findtext("title") for i in ET.fromstring(response.content).iter("item")]


async def test_cached_anonymous_reads_follow_every_write_at_once(client):
    ann = await sign_up(client)
    blog = await post(client, ann, "Walnut harbour")
    search = {"q": "walnut"}
    one = f"/api/v1/blog/{blog['id']}"
    # Read once so each is cached, then change the blog and read again at once.
    assert found(await client.get("/api/v1/blog/search", params=search)) == ["Walnut harbour"]
    assert (await client.get(one)).json()["title"] == "Walnut harbour"
    assert rss_titles(await client.get("/feed.xml")) == ["Walnut harbour"]
    assert len(await sitemap_locs(client)) == 2

    blog = await edit(client, ann, blog, title="Walnut island")
    assert found(await client.get("/api/v1/blog/search", params=search)) == ["Walnut island"]
    assert (await client.get(one)).json()["title"] == "Walnut island"
    assert (await client.get(f"/api/v1/blog/slug/{blog['slug']}")).json()["id"] == blog["id"]
    assert rss_titles(await client.get("/feed.xml")) == ["Walnut island"]
    assert (await sitemap_locs(client))[1].endswith("/walnut-island")

    # Narrowed to friends: gone from every anonymous read.
    blog = await edit(client, ann, blog, audience="friends")
    assert found(await client.get("/api/v1/blog/search", params=search)) == []
    assert (await client.get(one)).status_code == 404
    assert rss_titles(await client.get("/feed.xml")) == []
    assert len(await sitemap_locs(client)) == 1

    blog = await edit(client, ann, blog, audience="public")
    assert (await client.get(one)).status_code == 200
    r = await client.delete(one, headers=bearer(ann))
    assert r.status_code == 204
    assert found(await client.get("/api/v1/blog/search", params=search)) == []
    assert (await client.get(one)).status_code == 404
    assert rss_titles(await client.get("/feed.xml")) == []
    assert len(await sitemap_locs(client)) == 1

    # A new blog is found by the next anonymous search.
    await post(client, ann, "Walnut bread")
    assert found(await client.get("/api/v1/blog/search", params=search)) == ["Walnut bread"]


async def test_a_reader_holding_the_current_version_gets_304_and_a_new_one_after_an_edit(client):
    ann = await sign_up(client)
    blog = await post(client, ann, "Conditional")
    for path in (f"/api/v1/blog/{blog['id']}", "/api/v1/blog/search?q=conditional",
                 "/api/v1/feed", "/feed.xml", "/sitemap.xml", "/sitemaps/0.xml"):
        first = await client.get(path)
        tag = first.headers["etag"]
        again = await client.get(path, headers={"If-None-Match": tag})
        assert again.status_code == 304 and again.content == b"", path
        assert again.headers["etag"] == tag
        assert (await client.get(path, headers={"If-None-Match": '"other"'})).status_code == 200
    r = await client.get(f"/api/v1/blog/{blog['id']}")
    tag = r.headers["etag"]
    await edit(client, ann, blog, body="Changed")
    r = await client.get(f"/api/v1/blog/{blog['id']}", headers={"If-None-Match": tag})
    assert r.status_code == 200 and r.json()["body"] == "Changed" and r.headers["etag"] != tag


async def test_signed_in_readers_are_never_served_the_anonymous_copy(client):
    ann, bob = await sign_up(client), await sign_up(client)
    blog = await post(client, ann, "Friends only", audience="friends")
    # Ann's own read is built for her; the anonymous one is a 404 and stays one.
    assert (await client.get(f"/api/v1/blog/{blog['id']}", headers=bearer(ann))).status_code \
        == 200
    assert (await client.get(f"/api/v1/blog/{blog['id']}")).status_code == 404
    assert (await client.get(f"/api/v1/blog/{blog['id']}", headers=bearer(bob))).status_code \
        == 404
    assert found(await client.get("/api/v1/blog/search", params={"q": "friends"},
                                  headers=bearer(ann))) == ["Friends only"]
    assert found(await client.get("/api/v1/blog/search", params={"q": "friends"})) == []


async def test_a_sitemap_part_past_the_last_blog_is_404(client):
    assert (await client.get("/sitemaps/0.xml")).status_code == 200
    assert (await client.get("/sitemaps/5000.xml")).status_code == 404


async def test_a_cached_blog_shows_a_new_like_and_comment_at_once(client):
    ann, bob = await sign_up(client), await sign_up(client)
    blog = await post(client, ann, "Counted")
    one = f"/api/v1/blog/{blog['id']}"
    assert (await client.get(one)).json()["likes_count"] == 0
    assert (await client.post(one + "/like", headers=bearer(bob))).status_code == 200
    assert (await client.get(one)).json()["likes_count"] == 1
    r = await client.post(one + "/comments", headers=bearer(bob), json={"body": "Nice"})
    assert r.status_code == 201
    assert (await client.get(one)).json()["comments_count"] == 1
    await client.delete(f"{one}/comments/{r.json()['id']}", headers=bearer(bob))
    await client.delete(one + "/like", headers=bearer(bob))
    assert (await client.get(one)).json()["likes_count"] == 0
    assert (await client.get(one)).json()["comments_count"] == 0


async def test_the_anonymous_home_page_follows_every_write_at_once(client):
    ann = await sign_up(client)
    assert "Quince orchard" not in (await client.get("/")).text
    blog = await post(client, ann, "Quince orchard")
    assert "Quince orchard" in (await client.get("/")).text
    blog = await edit(client, ann, blog, audience="friends")
    assert "Quince orchard" not in (await client.get("/")).text


async def test_the_kept_anonymous_feed_never_answers_a_request_it_does_not_fit(client):
    ann = await sign_up(client)
    await post(client, ann, "Kept feed")
    assert found(await client.get("/api/v1/feed")) == ["Kept feed"]  # now kept
    r = await client.get("/api/v1/feed", params={"following": "true"})
    assert r.status_code == 401
    r = await client.get("/api/v1/feed", params={"following": "true"}, headers=bearer(ann))
    assert found(r) == []  # Ann follows nobody: her following feed, not the kept one
    r = await client.get("/api/v1/feed", params={"cursor": "not-a-cursor"})
    assert r.status_code == 422
