"""On PostgreSQL: a signed-in reader's text search, merged from the kept public matches and
the reader's own (domain/blogs/search.py), is the answer of the one search query, for every
kind of reader, page by page, with filters, and right after writes."""

from __future__ import annotations

from nirvana.domain.blogs.model import BlogFilter
from nirvana.storage.postgres.blogs import PgBlogRepository
from tests.support.http import bearer, sign_up
from tests.support.people import befriend, block

AUDIENCES = ("public", "followers", "friends")


async def post(client, session, title: str, audience: str, tags=()) -> dict:
    r = await client.post("/api/v1/blog", headers=bearer(session), json={
        "title": title, "body": "Notes from the quince garden, and others.",
        "audience": audience, "tags": list(tags)})
    assert r.status_code == 201, r.text
    return r.json()


async def answers(services, reader: int, terms: BlogFilter, limit: int = 4):
    """(merged, the store's) for each page until both run out."""
    store = PgBlogRepository(services.pool)
    page = 1
    while True:
        found, more = await services.blogs.search(reader, terms, page, limit)
        rows = await store.search(reader, terms, (page - 1) * limit, limit + 1)
        yield [b.id for b in found], more, [b.id for b in rows[:limit]], len(rows) > limit
        if not more and len(rows) <= limit:
            return
        page += 1


async def test_every_reader_gets_the_search_querys_answer(client, services):
    people = {name: await sign_up(client) for name in
              ("reader", "friend", "followed", "stranger", "blocker", "blocked")}
    ids = {name: s["user"]["id"] for name, s in people.items()}
    await befriend(services, ids["reader"], ids["friend"])
    r = await client.post(f"/api/v1/follows/{ids['followed']}",
                          headers=bearer(people["reader"]))
    assert r.status_code in (200, 201, 204), r.text
    await block(services, ids["blocker"], ids["reader"])
    await block(services, ids["reader"], ids["blocked"])
    for n in range(3):
        for name, session in people.items():
            for audience in AUDIENCES:
                # The word in some titles (ranked higher), in every body.
                title = f"Quince {name} {n}" if n != 1 else f"Autumn {name} {n}"
                await post(client, session, title, audience, tags=("garden",) if n else ())

    for reader in ids.values():
        for terms in (BlogFilter(q="quince"), BlogFilter(q="quince", tag="garden"),
                      BlogFilter(q="autumn")):
            async for merged, more, expected, expected_more in answers(services, reader, terms):
                assert merged == expected, (reader, terms)
                assert more == expected_more

    # After writes: a new friends-only post, and a public one narrowed to friends.
    fresh = await post(client, people["friend"], "Quince fresh", "friends")
    public = await post(client, people["stranger"], "Quince public", "public")
    r = await client.put(f"/api/v1/blog/{public['id']}", headers=bearer(people["stranger"]),
                         json={"updated_at": public["updated_at"], "audience": "friends"})
    assert r.status_code == 200, r.text
    found, _ = await services.blogs.search(ids["reader"], BlogFilter(q="quince"), 1, 50)
    assert fresh["id"] in [b.id for b in found]
    assert public["id"] not in [b.id for b in found]
    async for merged, more, expected, expected_more in answers(
            services, ids["reader"], BlogFilter(q="quince")):
        assert merged == expected and more == expected_more


async def test_a_signed_in_search_over_http_is_the_readers_own_answer(client, services):
    ann, bob, cid, dan = [await sign_up(client) for _ in range(4)]
    ids = {name: s["user"]["id"] for name, s in
           (("ann", ann), ("bob", bob), ("cid", cid), ("dan", dan))}
    public = await post(client, ann, "Medlar public", "public")
    secret = await post(client, ann, "Medlar friends", "friends")
    other = await post(client, dan, "Medlar elsewhere", "public")
    url = "/api/v1/blog/search?q=medlar"

    def titles(r) -> list[str]:
        assert r.status_code == 200, r.text
        return sorted(b["title"] for b in r.json()["blogs"])

    anonymous = await client.get(url)
    assert titles(anonymous) == ["Medlar elsewhere", "Medlar public"]
    # Cid is close to no one and reacted to nothing: the anonymous answer is his.
    r = await client.get(url, headers=bearer(cid))
    assert r.content == anonymous.content
    # Bob is Ann's friend: her friends-only blog too.
    await befriend(services, ids["ann"], ids["bob"])
    assert titles(await client.get(url, headers=bearer(bob))) == [
        "Medlar elsewhere", "Medlar friends", "Medlar public"]
    # A reaction of Cid's shows in his answer.
    r = await client.put(f"/api/v1/blog/{public['id']}/reaction", json={"kind": "wow"},
                         headers=bearer(cid))
    assert r.status_code == 200, r.text
    mine = {b["id"]: b["my_reaction"]
            for b in (await client.get(url, headers=bearer(cid))).json()["blogs"]}
    assert mine == {public["id"]: "wow", other["id"]: None}
    # Dan blocks Cid: Dan's blog leaves Cid's answer, and Cid's leaves nothing of Dan's.
    await block(services, ids["dan"], ids["cid"])
    assert titles(await client.get(url, headers=bearer(cid))) == ["Medlar public"]
    assert secret["id"] not in [b["id"] for b in (await client.get(
        url, headers=bearer(cid))).json()["blogs"]]
