"""RSS, Atom and the sitemap over HTTP against the real PostgreSQL: only public blogs, for the
site, an author and a tag; valid XML whatever the titles hold."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

from tests.support.blogs import post
from tests.support.http import bearer, sign_up
from tests.support.sitemaps import sitemap_locs

ATOM = "{http://www.w3.org/2005/Atom}"


def rss_titles(response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/rss+xml")
    return [i.findtext("title") for i in ET.fromstring(response.content).iter("item")]


def atom_titles(response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    return [e.findtext(ATOM + "title") for e in root.iter(ATOM + "entry")]


async def test_feeds_and_sitemap_show_public_blogs_only(client):
    ann, bob = await sign_up(client, name="Ann"), await sign_up(client, name="Bob")
    nasty = "Fish & <chips> ]]>"
    public = await post(client, ann, nasty, tags=["Food"])
    await post(client, bob, "By Bob", tags=["food"])
    await post(client, ann, "A draft", status="draft", tags=["food"])
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    await post(client, ann, "Scheduled", status="scheduled", published_at=later, tags=["food"])
    # A reader with a block gets the same public documents: feeds never depend on who asks.
    r = await client.post(f"/api/v1/blocks/{ann['user']['id']}", headers=bearer(bob))
    assert r.status_code in (200, 201, 204)

    assert rss_titles(await client.get("/feed.xml")) == ["By Bob", nasty]
    assert atom_titles(await client.get("/atom.xml")) == ["By Bob", nasty]
    uid = ann["user"]["id"]
    assert rss_titles(await client.get(f"/people/{uid}/feed.xml")) == [nasty]
    assert atom_titles(await client.get(f"/people/{uid}/atom.xml")) == [nasty]
    assert rss_titles(await client.get("/tags/food/feed.xml")) == ["By Bob", nasty]
    assert atom_titles(await client.get("/tags/food/atom.xml")) == ["By Bob", nasty]
    assert rss_titles(await client.get("/tags/nothing/feed.xml")) == []

    locs = await sitemap_locs(client)
    # By id within a part: the oldest blog first.
    assert [loc.rsplit("/", 1)[1] for loc in locs] == ["", public["slug"], "by-bob"]


async def test_an_unknown_authors_feed_is_404(client):
    r = await client.get("/people/999999/feed.xml")
    assert r.status_code == 404


async def test_the_feed_links_the_blog_pages_by_slug(client, settings):
    ann = await sign_up(client)
    blog = await post(client, ann, "Linked here")
    channel = ET.fromstring((await client.get("/feed.xml")).content).find("channel")
    item = channel.find("item")
    assert item.findtext("link") == f"{settings.base_url}/blogs/linked-here"
    assert item.findtext("guid") == f"{settings.base_url}/blogs/{blog['id']}"
    assert (await client.get("/blogs/linked-here")).status_code == 200


async def test_a_sitemap_part_is_sent_gzipped_to_crawlers_that_take_it_and_plain_to_others(
        client):
    ann = await sign_up(client)
    await post(client, ann, "Zipped away")
    # httpx would decode gzip itself: read the raw bytes as they come.
    async with client.stream("GET", "/sitemaps/0.xml",
                             headers={"Accept-Encoding": "gzip"}) as r:
        zipped = b"".join([chunk async for chunk in r.aiter_raw()])
        assert r.headers["content-encoding"] == "gzip"
        assert r.headers["vary"] == "Accept-Encoding"
        zipped_tag = r.headers["etag"]
    for refuses in ("identity", "gzip;q=0, identity", "br"):
        plain = await client.get("/sitemaps/0.xml", headers={"Accept-Encoding": refuses})
        assert "content-encoding" not in plain.headers, refuses
        assert plain.content == gzip.decompress(zipped)
        assert plain.headers["etag"] != zipped_tag
    assert b"/blogs/zipped-away</loc>" in plain.content
    again = await client.get("/sitemaps/0.xml", headers={
        "Accept-Encoding": "identity", "If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304
    # The other form's tag does not stand for this one.
    other = await client.get("/sitemaps/0.xml", headers={
        "Accept-Encoding": "identity", "If-None-Match": zipped_tag})
    assert other.status_code == 200
