"""Reactions on blogs over HTTP, against the real PostgreSQL: one per user per blog, exact
counts per kind under concurrency, the like routes as the `like` reaction, who reacted,
bad input, and the author told once per window."""

from __future__ import annotations

import asyncio

import asyncpg

from tests.support.http import bearer, sign_up

KINDS = ("like", "love", "haha", "wow", "sad", "angry")


async def post(client, session, title: str = "Reactable", **over) -> dict:
    r = await client.post("/api/v1/blog", headers=bearer(session),
                          json={"title": title, "body": "b", **over})
    assert r.status_code == 201, r.text
    return r.json()


def counts(**n: int) -> dict[str, int]:
    return {k: n.get(k, 0) for k in KINDS}


async def test_a_reaction_is_set_replaced_and_cleared_with_counts_per_kind(client):
    ann, bob = await sign_up(client), await sign_up(client)
    blog = await post(client, ann)
    assert blog["reactions"] == counts() and blog["my_reaction"] is None
    url = f"/api/v1/blog/{blog['id']}/reaction"
    r = await client.put(url, headers=bearer(bob), json={"kind": "love"})
    assert r.status_code == 200, r.text
    assert r.json() == {"my_reaction": "love", "reactions": counts(love=1), "likes_count": 0}
    r = await client.put(url, headers=bearer(bob), json={"kind": "haha"})  # replaces
    assert r.json()["reactions"] == counts(haha=1)
    got = (await client.get(f"/api/v1/blog/{blog['id']}", headers=bearer(bob))).json()
    assert got["my_reaction"] == "haha" and got["reactions"] == counts(haha=1)
    feed = (await client.get("/api/v1/feed", headers=bearer(bob))).json()["blogs"]
    assert [(b["id"], b["my_reaction"]) for b in feed] == [(blog["id"], "haha")]
    anonymous = (await client.get(f"/api/v1/blog/{blog['id']}")).json()
    assert anonymous["my_reaction"] is None and anonymous["reactions"] == counts(haha=1)
    for _ in range(2):  # idempotent
        r = await client.delete(url, headers=bearer(bob))
        assert r.status_code == 200
        assert r.json() == {"my_reaction": None, "reactions": counts(), "likes_count": 0}


async def test_the_like_routes_are_the_like_reaction(client):
    ann, bob = await sign_up(client), await sign_up(client)
    blog = await post(client, ann)
    like, reaction = (f"/api/v1/blog/{blog['id']}/{p}" for p in ("like", "reaction"))
    r = await client.post(like, headers=bearer(bob))
    assert r.json() == {"liked": True, "likes_count": 1}
    got = (await client.get(f"/api/v1/blog/{blog['id']}", headers=bearer(bob))).json()
    assert got["my_reaction"] == "like" and got["reactions"] == counts(like=1)
    await client.put(reaction, headers=bearer(bob), json={"kind": "wow"})
    got = (await client.get(f"/api/v1/blog/{blog['id']}")).json()
    assert got["likes_count"] == 0 and got["reactions"] == counts(wow=1)
    # Unliking takes back a like only: the wow stays.
    r = await client.delete(like, headers=bearer(bob))
    assert r.json() == {"liked": False, "likes_count": 0}
    assert (await client.get(f"/api/v1/blog/{blog['id']}")).json()["reactions"] == counts(wow=1)
    # Liking replaces the wow.
    r = await client.post(like, headers=bearer(bob))
    assert r.json() == {"liked": True, "likes_count": 1}
    assert (await client.get(f"/api/v1/blog/{blog['id']}")).json()["reactions"] == counts(like=1)
    stats = (await client.get("/api/v1/blog/stats", headers=bearer(ann))).json()
    assert stats["total_likes"] == 1


async def test_counts_stay_exact_when_many_react_and_change_at_once(client, services):
    ann = await sign_up(client)
    fans = [await sign_up(client) for _ in range(8)]
    blog = await post(client, ann)
    url = f"/api/v1/blog/{blog['id']}/reaction"

    async def fan(i: int, session: dict) -> None:
        # Each fan goes through several kinds at once with the others, ending on one.
        for kind in (KINDS[i % 6], KINDS[(i + 1) % 6], KINDS[(i + 2) % 6]):
            r = await client.put(url, headers=bearer(session), json={"kind": kind})
            assert r.status_code == 200, r.text
        if i % 4 == 0:
            await client.delete(url, headers=bearer(session))

    await asyncio.gather(*[fan(i, f) for i, f in enumerate(fans)])
    rows = await services.pool.fetch(
        "SELECT kind, count(*) AS n FROM blog_reactions WHERE blog_id = $1 GROUP BY kind",
        blog["id"])
    truth = counts(**{r["kind"]: r["n"] for r in rows})
    assert sum(truth.values()) == 6
    got = (await client.get(f"/api/v1/blog/{blog['id']}")).json()
    assert got["reactions"] == truth and got["likes_count"] == truth["like"]


async def test_who_reacted_is_paged_filtered_by_kind_and_hides_blocked_people(client, services):
    ann = await sign_up(client)
    fans = [await sign_up(client, name=f"Fan {i}") for i in range(5)]
    blog = await post(client, ann)
    for i, f in enumerate(fans):
        await client.put(f"/api/v1/blog/{blog['id']}/reaction", headers=bearer(f),
                         json={"kind": "love" if i % 2 else "sad"})
    url = f"/api/v1/blog/{blog['id']}/reactions"
    first = (await client.get(url, params={"limit": 3})).json()
    assert [r["user"]["name"] for r in first["reactions"]] == ["Fan 4", "Fan 3", "Fan 2"]
    assert first["has_more"] is True and first["counts"] == counts(love=2, sad=3)
    second = (await client.get(url, params={"limit": 3, "page": 2})).json()
    assert [r["user"]["name"] for r in second["reactions"]] == ["Fan 1", "Fan 0"]
    assert second["has_more"] is False
    loves = (await client.get(url, params={"kind": "love"})).json()["reactions"]
    assert [(r["user"]["name"], r["kind"]) for r in loves] == [("Fan 3", "love"),
                                                               ("Fan 1", "love")]
    await services.social.block(fans[3]["user"]["id"], fans[0]["user"]["id"])
    seen = (await client.get(url, headers=bearer(fans[0]))).json()["reactions"]
    assert "Fan 3" not in [r["user"]["name"] for r in seen]


async def test_bad_reactions_get_the_error_shape_and_change_nothing(client):
    ann, bob = await sign_up(client), await sign_up(client)
    blog = await post(client, ann)
    url = f"/api/v1/blog/{blog['id']}/reaction"
    for body in ({"kind": "meh"}, {"kind": 1}, {"kind": None}, {}, {"kind": "like", "x": 1},
                 {"kind": "LIKE"}):
        r = await client.put(url, headers=bearer(bob), json=body)
        assert r.status_code == 422, (body, r.text)
        error = r.json()["error"]
        assert error["code"] and error["message"] and error["details"], body
    r = await client.get(f"/api/v1/blog/{blog['id']}/reactions", params={"kind": "meh"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "kind"
    assert (await client.get(f"/api/v1/blog/{blog['id']}")).json()["reactions"] == counts()
    draft = await post(client, ann, "Draft", status="draft")
    r = await client.put(f"/api/v1/blog/{draft['id']}/reaction", headers=bearer(ann),
                         json={"kind": "love"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "blog_not_published"
    r = await client.put(f"/api/v1/blog/{draft['id']}/reaction", headers=bearer(bob),
                         json={"kind": "love"})
    assert r.status_code == 404
    r = await client.put("/api/v1/blog/999999/reaction", headers=bearer(bob),
                         json={"kind": "love"})
    assert r.status_code == 404


async def test_reactions_tell_the_author_once_and_coalesce_with_likes(client):
    ann = await sign_up(client, name="Ann")
    bob, cat = await sign_up(client, name="Bob"), await sign_up(client, name="Cat")
    blog = await post(client, ann, "Trip")
    await client.put(f"/api/v1/blog/{blog['id']}/reaction", headers=bearer(bob),
                     json={"kind": "love"})
    items = (await client.get("/api/v1/notifications", headers=bearer(ann))).json()["items"]
    assert [n["text"] for n in items] == ["Bob reacted to “Trip”"]
    await client.post(f"/api/v1/blog/{blog['id']}/like", headers=bearer(cat))
    await client.put(f"/api/v1/blog/{blog['id']}/reaction", headers=bearer(bob),
                     json={"kind": "wow"})  # a change is not news
    items = (await client.get("/api/v1/notifications", headers=bearer(ann))).json()["items"]
    assert [n["text"] for n in items] == ["Cat and 1 other reacted to “Trip”"]
    await client.delete(f"/api/v1/blog/{blog['id']}/reaction", headers=bearer(bob))
    await client.delete(f"/api/v1/blog/{blog['id']}/reaction", headers=bearer(cat))
    items = (await client.get("/api/v1/notifications", headers=bearer(ann))).json()["items"]
    assert items == []


async def test_a_writer_killed_mid_transaction_leaves_counts_and_rows_in_step(client, services,
                                                                            server_urls):
    ann = await sign_up(client)
    fans = [await sign_up(client) for _ in range(3)]
    blog = await post(client, ann)
    await client.put(f"/api/v1/blog/{blog['id']}/reaction", headers=bearer(fans[0]),
                     json={"kind": "sad"})
    pool = services.pool
    writer = await asyncpg.connect(server_urls[0])  # a connection of the test's own
    pid = await writer.fetchval("SELECT pg_backend_pid()")
    await writer.execute("BEGIN")
    await writer.execute(
        "INSERT INTO blog_reactions (blog_id, user_id, kind) "
        "SELECT $1, unnest($2::bigint[]), 'love'", blog["id"],
        [f["user"]["id"] for f in fans[1:]])
    await writer.execute("UPDATE blog_reactions SET kind = 'wow' WHERE user_id = $1",
                         fans[0]["user"]["id"])
    # The writer's server process dies before its commit, as in a crash.
    assert await pool.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
    writer.terminate()
    got = (await client.get(f"/api/v1/blog/{blog['id']}")).json()["reactions"]
    assert got == counts(sad=1)
    rows = await pool.fetchval("SELECT count(*) FROM blog_reactions WHERE blog_id = $1",
                               blog["id"])
    assert rows == 1
