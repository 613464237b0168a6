"""A signed-in reader of one blog gets their own answer: the kept anonymous bytes only when
those are exactly theirs (no block with the author, no reaction of theirs), else one built
for them, whatever anonymous readers were answered before."""

from __future__ import annotations

from tests.support.http import bearer, sign_up
from tests.support.people import befriend, block


async def post(client, session, title: str, audience: str = "public") -> dict:
    r = await client.post("/api/v1/blog", headers=bearer(session),
                          json={"title": title, "body": "Pears.", "audience": audience})
    assert r.status_code == 201, r.text
    return r.json()


async def test_one_blog_signed_in_is_the_readers_own_answer(client, services):
    ann, bob, cid = [await sign_up(client) for _ in range(3)]
    blog = await post(client, ann, "Perry")
    one = f"/api/v1/blog/{blog['id']}"
    for _ in range(3):  # kept for anonymous readers, and answered before routing
        anonymous = await client.get(one)
    assert anonymous.status_code == 200

    # Bob: nothing of his own on it, so the anonymous answer is his.
    assert (await client.get(one, headers=bearer(bob))).json() == anonymous.json()
    # His reaction shows at once.
    r = await client.put(one + "/reaction", json={"kind": "haha"}, headers=bearer(bob))
    assert r.status_code == 200, r.text
    mine = (await client.get(one, headers=bearer(bob))).json()
    assert mine["my_reaction"] == "haha" and mine["reactions"]["haha"] == 1
    assert (await client.get(one)).json()["my_reaction"] is None
    # Cid and Ann fall out: the blog is gone for him, whoever blocked whom.
    await block(services, ann["user"]["id"], cid["user"]["id"])
    assert (await client.get(one, headers=bearer(cid))).status_code == 404
    assert (await client.get(one, headers=bearer(ann))).json()["title"] == "Perry"
    # A friends-only blog is never kept: built for its readers.
    secret = await post(client, ann, "Perry friends", "friends")
    await befriend(services, ann["user"]["id"], bob["user"]["id"])
    path = f"/api/v1/blog/{secret['id']}"
    assert (await client.get(path)).status_code == 404
    assert (await client.get(path, headers=bearer(bob))).json()["title"] == "Perry friends"


async def feed_ids(client, session=None, **params) -> tuple[list[int], str | None]:
    r = await client.get("/api/v1/feed", params=params,
                         headers=bearer(session) if session else {})
    assert r.status_code == 200, r.text
    return [b["id"] for b in r.json()["blogs"]], r.json()["next_cursor"]


async def built_ids(services, reader: int, cursor: str | None, limit: int):
    from nirvana.domain.blogs.model import decode_cursor, encode_cursor

    page = await services.blogs.feed(reader, decode_cursor(cursor) if cursor else None, limit)
    return [b.id for b in page.blogs], encode_cursor(page.next) if page.next else None


async def test_feed_pages_signed_in_are_the_readers_own_answer(client, services):
    ann, bob, cid, dan = [await sign_up(client) for _ in range(4)]
    ids = {n: s["user"]["id"] for n, s in (("ann", ann), ("bob", bob), ("cid", cid),
                                           ("dan", dan))}
    for n in range(3):
        await post(client, dan, f"Dan {n}")
        await post(client, ann, f"Ann {n}")
    for _ in range(3):
        anonymous = await feed_ids(client, limit=2)

    async def same_as_built(name: str, session: dict) -> None:
        cursor = None
        while True:
            got = await feed_ids(client, session, limit=2, **({"cursor": cursor} if cursor
                                                              else {}))
            assert got == await built_ids(services, ids[name], cursor, 2), name
            cursor = got[1]
            if cursor is None:
                return

    # Bob, close to no one: the anonymous pages are his.
    assert await feed_ids(client, bob, limit=2) == anonymous
    await same_as_built("bob", bob)
    # A friends-only blog of Ann's enters Bob's feed once they are friends, on top.
    secret = await post(client, ann, "Ann friends", "friends")
    await befriend(services, ids["ann"], ids["bob"])
    assert (await feed_ids(client, bob, limit=2))[0][0] == secret["id"]
    assert secret["id"] not in (await feed_ids(client, limit=2))[0]
    await same_as_built("bob", bob)
    # Cid blocks Ann: none of hers in his feed, every page.
    await block(services, ids["cid"], ids["ann"])
    await same_as_built("cid", cid)
    # Dan's reaction on a blog of his page shows.
    first = (await feed_ids(client, dan, limit=2))[0][0]
    r = await client.put(f"/api/v1/blog/{first}/reaction", json={"kind": "sad"},
                         headers=bearer(dan))
    assert r.status_code == 200, r.text
    page = (await client.get("/api/v1/feed", params={"limit": 2}, headers=bearer(dan))).json()
    assert page["blogs"][0]["my_reaction"] == "sad"
    await same_as_built("dan", dan)


async def test_the_anonymous_answer_is_not_a_signed_in_readers_once_the_content_moved(
        client, services, settings):
    """A signed-in reader's page is checked against the content at one version; a blog
    published while that check ran (by an author they blocked, say) was never checked, so
    the anonymous answer is theirs only if the version still holds: else the route builds
    their own."""
    from pydantic import BaseModel
    from starlette.requests import Request

    from nirvana.app import create_app
    from nirvana.http.api import Call
    from nirvana.http.routes.blogs import Public, anonymous_if_unmoved

    class Page(BaseModel):
        titles: list[str]

    ann = await sign_up(client)
    app = create_app(settings, services)
    call = Call(Request({"type": "http", "app": app, "headers": []}), None, None, None)
    built: list[int] = []

    async def build() -> Page:
        built.append(services.blogs.content_version)
        return Page(titles=["Perry"])

    checked = Public(("check", 1), services.blogs.content_version)
    kept = await anonymous_if_unmoved(call, checked, build)
    assert kept is not None and kept.status_code == 200 and built  # nothing moved: served
    assert (await anonymous_if_unmoved(call, checked, build)) is not None  # kept at it
    moved = Public(("check", 2), services.blogs.content_version)
    await post(client, ann, "Published during the check")
    assert services.blogs.content_version != moved.version
    assert await anonymous_if_unmoved(call, moved, build) is None
