"""The tag list with counts (API and page), against the real PostgreSQL: counts of public
published blogs, kept exact through publishing, edits, audience changes and deletes."""

from __future__ import annotations

from tests.support.http import bearer, sign_up


async def tag_counts(client) -> list[tuple[str, int]]:
    r = await client.get("/api/v1/tags")
    assert r.status_code == 200, r.text
    return [(t["tag"], t["count"]) for t in r.json()["tags"]]


async def post(client, session, tags: list[str], **over) -> dict:
    r = await client.post("/api/v1/blog", headers=bearer(session),
                          json={"title": "Tagged", "body": "b", "tags": tags, **over})
    assert r.status_code == 201, r.text
    return r.json()


async def test_tags_are_listed_with_the_number_of_public_blogs_most_used_first(client):
    ann, bob = await sign_up(client), await sign_up(client)
    assert await tag_counts(client) == []
    first = await post(client, ann, ["Travel", "food"])
    await post(client, bob, ["travel"])
    secret = await post(client, ann, ["travel", "secret"], audience="friends")
    draft = await post(client, ann, ["drafty"], status="draft")
    assert await tag_counts(client) == [("travel", 2), ("food", 1)]

    # A friends-only blog made public, a draft published, an edit of tags, a delete.
    r = await client.put(f"/api/v1/blog/{secret['id']}", headers=bearer(ann),
                         json={"updated_at": secret["updated_at"], "audience": "public"})
    assert r.status_code == 200
    r = await client.put(f"/api/v1/blog/{draft['id']}", headers=bearer(ann),
                         json={"updated_at": draft["updated_at"], "status": "published"})
    assert r.status_code == 200
    r = await client.put(f"/api/v1/blog/{first['id']}", headers=bearer(ann),
                         json={"updated_at": first["updated_at"], "tags": ["food", "wine"]})
    assert r.status_code == 200
    assert await tag_counts(client) == [("travel", 2), ("drafty", 1), ("food", 1),
                                        ("secret", 1), ("wine", 1)]
    # Reactions and comments touch the blog's row, not its tags.
    await client.post(f"/api/v1/blog/{first['id']}/like", headers=bearer(bob))
    await client.delete(f"/api/v1/blog/{secret['id']}", headers=bearer(ann))
    assert await tag_counts(client) == [("drafty", 1), ("food", 1), ("travel", 1),
                                        ("wine", 1)]
    r = await client.get("/api/v1/tags", params={"limit": 2})
    assert [t["tag"] for t in r.json()["tags"]] == ["drafty", "food"]
    r = await client.get("/api/v1/tags", params={"limit": 0})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "limit"


async def test_the_tags_page_links_each_tag_to_its_page(client):
    ann = await sign_up(client)
    await post(client, ann, ["crème brûlée"])
    page = await client.get("/tags")
    assert page.status_code == 200
    assert '<a href="/tags/cr%C3%A8me%20br%C3%BBl%C3%A9e">#crème brûlée</a>' in page.text
    assert "1 blog<" in page.text
    tag_page = await client.get("/tags/cr%C3%A8me%20br%C3%BBl%C3%A9e")
    assert tag_page.status_code == 200 and "Tagged" in tag_page.text


async def test_a_tag_with_a_slash_has_its_page_and_feeds(client):
    # "ci/cd" or "24/7" are ordinary tags: the links the pages give for them must lead
    # somewhere, whether the slash is written as is or percent-encoded.
    ann = await sign_up(client)
    await post(client, ann, ["ci/cd"])
    listing = (await client.get("/tags")).text
    assert '<a href="/tags/ci/cd">#ci/cd</a>' in listing
    for path in ("/tags/ci/cd", "/tags/ci%2Fcd"):
        page = await client.get(path)
        assert page.status_code == 200 and "Tagged" in page.text, path
        assert "Blogs tagged #ci/cd" in page.text
        for feed in ("feed.xml", "atom.xml"):
            r = await client.get(f"{path}/{feed}")
            assert r.status_code == 200 and "<title>Tagged</title>" in r.text, (path, feed)
            assert "/tags/ci%2Fcd/" + feed in r.text
    # No tag has an empty name: "/tags/" means the list, and no feed has an empty tag.
    r = await client.get("/tags/", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == "/tags"
    for path in ("/tags//feed.xml", "/tags//atom.xml"):
        assert (await client.get(path)).status_code == 404, path
