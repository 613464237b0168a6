"""The blog's web page, as every anonymous reader sees it, comes from the page cache: it
follows each change to what it shows at once (as does the blog's sitemap part), never shows an anonymous reader what only
signed-in readers may see, and a signed-in reader's page is built for them."""

from __future__ import annotations

import pytest

from nirvana.domain.moderation.entities import Role
from tests.support.blogs import edit
from tests.support.http import bearer, sign_up
from tests.support.moderation import act, publish, signed_up_with_role
from tests.support.people import befriend
from tests.support.sitemaps import sitemap_locs


@pytest.fixture
def database_url(server_urls) -> str:
    return server_urls[0]


def signed_in(session: dict) -> dict[str, str]:
    return {"Cookie": f"jwt={session['jwt']}"}


async def page(client, blog: dict, **headers) -> str:
    r = await client.get(f"/blogs/{blog['slug']}", headers=headers)
    assert r.status_code == 200, r.text
    return r.text


async def test_the_anonymous_blog_page_follows_each_change_at_once(client, database_url):
    ann, bob = await sign_up(client), await sign_up(client)
    moderator = await signed_up_with_role(client, database_url, Role.MODERATOR)
    blog = await publish(client, ann, title="Pear orchard", body="First words")
    one = f"/api/v1/blog/{blog['id']}"
    assert "First words" in await page(client, blog)  # now cached

    blog = await edit(client, ann, blog, body="Second words")
    assert "Second words" in await page(client, blog)

    # A new title moves the page; the old address sends readers on.
    old = blog
    blog = await edit(client, ann, blog, title="Pear grove")
    r = await client.get(f"/blogs/{old['slug']}")
    assert r.status_code == 301 and r.headers["location"] == f"/blogs/{blog['slug']}"
    assert "<h1 id=\"blog-title\">Pear grove</h1>" in await page(client, blog)

    assert (await client.put(one + "/reaction", headers=bearer(bob),
                             json={"kind": "love"})).status_code == 200
    assert "Love 1" in await page(client, blog)
    await client.delete(one + "/reaction", headers=bearer(bob))
    assert "Love 1" not in await page(client, blog)

    r = await client.post(one + "/comments", headers=bearer(bob), json={"body": "Lovely pears"})
    comment = r.json()
    text = await page(client, blog)
    assert "Lovely pears" in text and "1 comment<" in text
    r = await client.put(f"{one}/comments/{comment['id']}", headers=bearer(bob),
                         json={"body": "Lovely pears indeed"})
    assert r.status_code == 200
    assert "Lovely pears indeed" in await page(client, blog)

    target = {"kind": "comment", "blog_id": blog["id"], "id": comment["id"]}
    assert (await act(client, moderator, "hide_comment", target)).status_code == 201
    assert "Lovely pears" not in await page(client, blog)
    assert (await act(client, moderator, "show_comment", target)).status_code == 201
    assert "Lovely pears" in await page(client, blog)
    await client.delete(f"{one}/comments/{comment['id']}", headers=bearer(bob))
    text = await page(client, blog)
    assert "Lovely pears" not in text and "0 comments" in text

    blog = await edit(client, ann, blog, audience="followers")
    assert (await client.get(f"/blogs/{blog['slug']}")).status_code == 404
    blog = await edit(client, ann, blog, audience="public")
    assert "Pear grove" in await page(client, blog)

    in_sitemap = any(loc.endswith("/pear-grove") for loc in await sitemap_locs(client))
    assert in_sitemap  # and its sitemap part now kept
    assert (await act(client, moderator, "hide_blog", {"kind": "blog", "id": blog["id"]})
            ).status_code == 201
    assert (await client.get(f"/blogs/{blog['slug']}")).status_code == 404
    assert not any(loc.endswith("/pear-grove") for loc in await sitemap_locs(client))
    assert (await act(client, moderator, "show_blog", {"kind": "blog", "id": blog["id"]})
            ).status_code == 201
    assert "Pear grove" in await page(client, blog)
    assert any(loc.endswith("/pear-grove") for loc in await sitemap_locs(client))

    assert (await client.delete(one, headers=bearer(ann))).status_code == 204
    assert (await client.get(f"/blogs/{blog['slug']}")).status_code == 404


async def test_an_anonymous_reader_never_gets_a_page_built_for_someone_signed_in(
        client, services):
    ann, bob = await sign_up(client), await sign_up(client)
    await befriend(services, ann["user"]["id"], bob["user"]["id"])
    private = await publish(client, ann, title="Among friends", audience="friends")
    # Her friend opens it first; an anonymous reader still finds nothing there.
    assert "Among friends" in await page(client, private, **signed_in(bob))
    assert (await client.get(f"/blogs/{private['slug']}")).status_code == 404
    assert "Among friends" in await page(client, private, **signed_in(ann))
    assert (await client.get(f"/blogs/{private['slug']}")).status_code == 404

    # A public blog: the signed-in page has the reader's own picker and report link, the
    # anonymous copy (cached first) has neither, and neither is served for the other.
    blog = await publish(client, ann, title="For everyone")
    anonymous = await page(client, blog)
    assert "data-reaction-picker" not in anonymous and "Sign in to react" in anonymous
    await client.put(f"/api/v1/blog/{blog['id']}/reaction", headers=bearer(bob),
                     json={"kind": "wow"})
    mine = await page(client, blog, **signed_in(bob))
    assert "data-reaction-picker" in mine and "Report this blog" in mine
    assert 'aria-pressed="true"\n              data-kind="wow"' in mine
    anonymous = await page(client, blog)
    assert "data-reaction-picker" not in anonymous and "Wow 1" in anonymous


async def test_the_anonymous_blog_page_answers_a_conditional_get(client):
    ann, bob = await sign_up(client), await sign_up(client)
    blog = await publish(client, ann, title="Tagged page")
    path = f"/blogs/{blog['slug']}"
    first = await client.get(path)
    tag = first.headers["etag"]
    again = await client.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["content-security-policy"].startswith("default-src 'self'")
    await client.post(f"/api/v1/blog/{blog['id']}/like", headers=bearer(bob))
    changed = await client.get(path, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert "Like 1" in changed.text
    # A signed-in reader's page is theirs: built for them, with no tag to hold.
    mine = await client.get(path, headers={"If-None-Match": changed.headers["etag"],
                                           **signed_in(bob)})
    assert mine.status_code == 200 and "etag" not in mine.headers
