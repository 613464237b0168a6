"""Anonymous reads answered before routing (http/kept_answers.py) are the route's own answer:
they follow every write at once, carry the same headers, and a signed-in reader asking for
the same address still gets an answer built for them."""

from __future__ import annotations

from tests.support.blogs import edit, post
from tests.support.http import bearer, sign_up
from tests.support.people import befriend

# Read three times: built, then kept (and remembered), then answered before the router.
READS = 3


async def read(client, path: str, **headers):
    for _ in range(READS):
        r = await client.get(path, headers=headers)
    return r


def shows(text: str, title: str) -> bool:
    # By its title, or in the sitemap by its slug.
    return title in text or title.lower().replace(" ", "-") in text


def addresses(blog: dict) -> list[str]:
    return [f"/api/v1/blog/{blog['id']}", f"/api/v1/blog/slug/{blog['slug']}",
            "/api/v1/feed", "/api/v1/blog/search?q=juniper",
            "/api/v1/blog/paginated_bulk?page=1", "/feed.xml", "/sitemaps/0.xml", "/",
            f"/blogs/{blog['slug']}"]


async def test_answers_kept_before_routing_follow_every_write_at_once(client):
    ann = await sign_up(client)
    blog = await post(client, ann, "Juniper hill", body="A walk up through the trees.")
    for path in addresses(blog):
        r = await read(client, path)
        assert r.status_code == 200 and shows(r.text, "Juniper hill"), path

    blog = await edit(client, ann, blog, title="Juniper vale")
    for path in addresses(blog)[:1] + addresses(blog)[2:]:  # the old slug: tested apart
        r = await read(client, path)
        assert r.status_code == 200, path
        assert shows(r.text, "Juniper vale") and not shows(r.text, "Juniper hill"), path

    await edit(client, ann, blog, audience="friends")
    for path in addresses(blog):
        r = await client.get(path)
        assert not shows(r.text, "Juniper vale"), path


async def test_a_kept_answer_carries_the_headers_of_a_routed_one(client):
    ann = await sign_up(client)
    blog = await post(client, ann, "Headers kept")
    for path in (f"/api/v1/blog/{blog['id']}", "/feed.xml", f"/blogs/{blog['slug']}"):
        routed = await client.get(path)
        kept = await read(client, path)
        assert kept.text == routed.text
        for name in ("content-type", "etag", "cache-control", "content-security-policy",
                     "x-content-type-options", "x-frame-options", "referrer-policy"):
            assert kept.headers.get(name) == routed.headers.get(name), (path, name)
        assert kept.headers["x-request-id"] != routed.headers["x-request-id"]
        r = await client.get(path, headers={"If-None-Match": kept.headers["etag"]})
        assert r.status_code == 304


async def test_a_signed_in_reader_is_answered_for_themselves_after_kept_anonymous_reads(
        client, services):
    ann, bob = await sign_up(client), await sign_up(client)
    await befriend(services, ann["user"]["id"], bob["user"]["id"])
    public = await post(client, ann, "Juniper public")
    await post(client, ann, "Juniper friends", audience="friends")
    r = await client.put(f"/api/v1/blog/{public['id']}/reaction", json={"kind": "love"},
                         headers=bearer(bob))
    assert r.status_code == 200, r.text

    one = f"/api/v1/blog/{public['id']}"
    assert (await read(client, one)).json()["my_reaction"] is None
    assert (await client.get(one, headers=bearer(bob))).json()["my_reaction"] == "love"
    search = "/api/v1/blog/search?q=juniper"
    assert [b["title"] for b in (await read(client, search)).json()["blogs"]] \
        == ["Juniper public"]
    titles = [b["title"] for b in (await client.get(search, headers=bearer(bob))).json()["blogs"]]
    assert sorted(titles) == ["Juniper friends", "Juniper public"]
    # The web page with the session cookie is Bob's, not the anonymous copy.
    await read(client, f"/blogs/{public['slug']}")
    page = await client.get(f"/blogs/{public['slug']}", headers={"Cookie": f"jwt={bob['jwt']}"})
    assert page.status_code == 200 and bob["user"]["name"] in page.text
