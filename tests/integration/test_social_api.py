"""People, friends, follows and blocks over HTTP, against the real PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.http import bearer, sign_up

pytestmark = pytest.mark.anyio


async def people(client, n: int) -> list[dict]:
    return [await sign_up(client) for _ in range(n)]


def uid(session: dict) -> int:
    return session["user"]["id"]


async def test_public_profile_shows_counts_and_no_private_fields(client):
    ann, bob, cat = await people(client, 3)
    await client.post(f"/api/v1/follows/{uid(ann)}", headers=bearer(bob))
    await client.post(f"/api/v1/follows/{uid(ann)}", headers=bearer(cat))
    await client.post(f"/api/v1/follows/{uid(cat)}", headers=bearer(ann))
    await client.post(f"/api/v1/friends/requests/{uid(ann)}", headers=bearer(bob))
    await client.post(f"/api/v1/friends/requests/{uid(bob)}/accept", headers=bearer(ann))

    r = await client.get(f"/api/v1/users/{uid(ann)}")
    assert r.status_code == 200
    body = r.json()
    assert body["counts"] == {"blogs": 0, "followers": 2, "following": 1, "friends": 1}
    assert body["relation"] is None
    assert "email" not in body and "role" not in body and ann["user"]["email"] not in r.text

    seen_by_bob = (await client.get(f"/api/v1/users/{uid(ann)}", headers=bearer(bob))).json()
    assert seen_by_bob["relation"] == {"user_id": uid(ann), "friend": True, "request": None,
                                       "following": True, "followed_by": False,
                                       "blocked": False}


async def test_unknown_ids_are_404(client):
    ann = await sign_up(client)
    for method, path in [("GET", "/api/v1/users/999999"),
                         ("GET", "/api/v1/users/99999999999999999999999"),
                         ("GET", "/api/v1/users/999999/followers"),
                         ("POST", "/api/v1/friends/requests/999999"),
                         ("POST", "/api/v1/friends/requests/999999/accept"),
                         ("DELETE", "/api/v1/friends/999999"),
                         ("POST", "/api/v1/follows/999999"),
                         ("POST", "/api/v1/blocks/99999999999999999999999")]:
        r = await client.request(method, path, headers=bearer(ann))
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "user_not_found"


async def test_self_actions_are_422(client):
    ann = await sign_up(client)
    me = uid(ann)
    for method, path in [("POST", f"/api/v1/friends/requests/{me}"),
                         ("POST", f"/api/v1/follows/{me}"),
                         ("POST", f"/api/v1/blocks/{me}"),
                         ("DELETE", f"/api/v1/friends/{me}")]:
        r = await client.request(method, path, headers=bearer(ann))
        assert r.status_code == 422 and r.json()["error"]["code"] == "self_target"


async def test_writes_need_a_session(client):
    ann = await sign_up(client)
    assert (await client.post(f"/api/v1/follows/{uid(ann)}")).status_code == 401
    assert (await client.get("/api/v1/friends")).status_code == 401


async def test_friend_request_lifecycle_and_duplicates(client):
    ann, bob = await people(client, 2)
    r = await client.post(f"/api/v1/friends/requests/{uid(bob)}", headers=bearer(ann))
    assert r.status_code == 201 and r.json()["outcome"] == "requested"
    assert r.json()["relation"]["request"] == "outgoing"
    again = await client.post(f"/api/v1/friends/requests/{uid(bob)}", headers=bearer(ann))
    assert again.status_code == 200 and again.json()["outcome"] == "already_requested"

    out = (await client.get("/api/v1/friends/requests?direction=outgoing",
                            headers=bearer(ann))).json()
    inc = (await client.get("/api/v1/friends/requests", headers=bearer(bob))).json()
    assert [i["user"]["id"] for i in out["items"]] == [uid(bob)]
    assert [i["user"]["id"] for i in inc["items"]] == [uid(ann)]

    r = await client.post(f"/api/v1/friends/requests/{uid(bob)}/accept", headers=bearer(ann))
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_friend_request"
    r = await client.post(f"/api/v1/friends/requests/{uid(ann)}/accept", headers=bearer(bob))
    assert r.status_code == 201 and r.json()["friend"] is True
    r = await client.post(f"/api/v1/friends/requests/{uid(ann)}/accept", headers=bearer(bob))
    assert r.status_code == 200  # accepting again changes nothing

    friends = (await client.get("/api/v1/friends", headers=bearer(ann))).json()
    assert [f["user"]["id"] for f in friends["items"]] == [uid(bob)]
    assert set(friends["items"][0]["user"]) == {"id", "username", "name", "avatar"}

    assert (await client.delete(f"/api/v1/friends/{uid(ann)}",
                                headers=bearer(bob))).status_code == 204
    assert (await client.delete(f"/api/v1/friends/{uid(ann)}",
                                headers=bearer(bob))).status_code == 204
    assert (await client.get("/api/v1/friends", headers=bearer(ann))).json()["items"] == []


async def test_crossed_requests_become_friends(client, services):
    ann, bob = await people(client, 2)
    await client.post(f"/api/v1/friends/requests/{uid(ann)}", headers=bearer(bob))
    r = await client.post(f"/api/v1/friends/requests/{uid(bob)}", headers=bearer(ann))
    assert r.status_code == 201 and r.json()["outcome"] == "became_friends"
    assert await services.social.are_friends(uid(ann), uid(bob))
    assert await services.social.friend_ids(uid(bob)) == [uid(ann)]
    assert (await client.get("/api/v1/friends/requests", headers=bearer(ann))).json()["items"] == []


async def test_concurrent_crossed_requests_end_as_one_friendship(client, services):
    ann, bob = await people(client, 2)
    await asyncio.gather(
        client.post(f"/api/v1/friends/requests/{uid(bob)}", headers=bearer(ann)),
        client.post(f"/api/v1/friends/requests/{uid(ann)}", headers=bearer(bob)))
    assert await services.social.are_friends(uid(ann), uid(bob))
    assert await services.pool.fetchval("SELECT count(*) FROM friend_requests") == 0
    assert await services.pool.fetchval("SELECT count(*) FROM friendships") == 2


async def test_decline_and_cancel(client):
    ann, bob = await people(client, 2)
    await client.post(f"/api/v1/friends/requests/{uid(bob)}", headers=bearer(ann))
    r = await client.post(f"/api/v1/friends/requests/{uid(ann)}/decline", headers=bearer(bob))
    assert r.status_code == 204
    assert (await client.get("/api/v1/friends/requests", headers=bearer(bob))).json()["items"] == []
    await client.post(f"/api/v1/friends/requests/{uid(bob)}", headers=bearer(ann))
    r = await client.delete(f"/api/v1/friends/requests/{uid(bob)}", headers=bearer(ann))
    assert r.status_code == 204
    assert (await client.get("/api/v1/friends/requests", headers=bearer(bob))).json()["items"] == []


async def test_follow_unfollow_and_lists(client, services):
    ann, bob, cat = await people(client, 3)
    r = await client.post(f"/api/v1/follows/{uid(ann)}", headers=bearer(bob))
    assert r.status_code == 201 and r.json()["following"] is True
    r = await client.post(f"/api/v1/follows/{uid(ann)}", headers=bearer(bob))
    assert r.status_code == 200
    await client.post(f"/api/v1/follows/{uid(ann)}", headers=bearer(cat))
    followers = (await client.get(f"/api/v1/users/{uid(ann)}/followers?limit=1")).json()
    assert [f["user"]["id"] for f in followers["items"]] == [uid(cat)]
    rest = (await client.get(f"/api/v1/users/{uid(ann)}/followers?limit=1&cursor="
                             f"{followers['next_cursor']}")).json()
    assert [f["user"]["id"] for f in rest["items"]] == [uid(bob)] and rest["next_cursor"] is None
    following = (await client.get(f"/api/v1/users/{uid(bob)}/following")).json()
    assert [f["user"]["id"] for f in following["items"]] == [uid(ann)]
    assert await services.social.followee_ids(uid(bob)) == [uid(ann)]
    r = await client.delete(f"/api/v1/follows/{uid(ann)}", headers=bearer(bob))
    assert r.status_code == 204
    r = await client.delete(f"/api/v1/follows/{uid(ann)}", headers=bearer(bob))
    assert r.status_code == 204
    assert await services.social.followee_ids(uid(bob)) == []


@pytest.mark.parametrize("query", ["limit=0", "limit=1000000", "limit=abc", "cursor=%21%21",
                                   "nope=1"])
async def test_bad_paging_is_422(client, query):
    ann = await sign_up(client)
    r = await client.get(f"/api/v1/users/{uid(ann)}/followers?{query}")
    assert r.status_code == 422, r.text


async def test_block_cuts_every_tie_and_hides_the_blocker(client, services):
    ann, bob = await people(client, 2)
    await client.post(f"/api/v1/friends/requests/{uid(bob)}", headers=bearer(ann))
    await client.post(f"/api/v1/friends/requests/{uid(ann)}/accept", headers=bearer(bob))
    await client.post(f"/api/v1/follows/{uid(bob)}", headers=bearer(ann))
    await client.post(f"/api/v1/follows/{uid(ann)}", headers=bearer(bob))

    r = await client.post(f"/api/v1/blocks/{uid(bob)}", headers=bearer(ann))
    assert r.status_code == 201
    assert r.json() == {"user_id": uid(bob), "friend": False, "request": None,
                        "following": False, "followed_by": False, "blocked": True}
    r = await client.post(f"/api/v1/blocks/{uid(bob)}", headers=bearer(ann))
    assert r.status_code == 200
    for table in ("friendships", "follows", "friend_requests"):
        assert await services.pool.fetchval(f"SELECT count(*) FROM {table}") == 0
    assert await services.social.is_blocked_either_way(uid(bob), uid(ann))

    # Bob sees Ann as if she did not exist.
    for method, path in [("GET", f"/api/v1/users/{uid(ann)}"),
                         ("GET", f"/api/v1/users/{uid(ann)}/followers"),
                         ("POST", f"/api/v1/friends/requests/{uid(ann)}"),
                         ("POST", f"/api/v1/follows/{uid(ann)}")]:
        r = await client.request(method, path, headers=bearer(bob))
        assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    # Ann must unblock before reaching out again.
    r = await client.post(f"/api/v1/follows/{uid(bob)}", headers=bearer(ann))
    assert r.status_code == 409 and r.json()["error"]["code"] == "blocked_by_you"

    blocks = (await client.get("/api/v1/blocks", headers=bearer(ann))).json()
    assert [b["user"]["id"] for b in blocks["items"]] == [uid(bob)]
    r = await client.delete(f"/api/v1/blocks/{uid(bob)}", headers=bearer(ann))
    assert r.status_code == 204
    assert (await client.get(f"/api/v1/users/{uid(ann)}", headers=bearer(bob))).status_code == 200
    r = await client.post(f"/api/v1/follows/{uid(ann)}", headers=bearer(bob))
    assert r.status_code == 201


async def test_search_ranks_exact_and_prefix_above_fuzzy(client):
    await sign_up(client, name="Marianne Quill", username="mquill")
    await sign_up(client, name="Mario Rossi", username="mario")
    await sign_up(client, name="José Marín", username="jmarin")
    await sign_up(client, name="Mary Stone", username="stone_m")
    await sign_up(client, name="Zed Nobody", username="zed")

    r = await client.get("/api/v1/users/search?q=mario")
    assert r.status_code == 200
    names = [p["username"] for p in r.json()["items"]]
    assert names[0] == "mario"  # exact username
    assert "zed" not in names

    accents = (await client.get("/api/v1/users/search?q=Marin")).json()["items"]
    assert accents[0]["username"] == "jmarin"  # exact word of the name, accent-insensitive

    prefix = [p["username"] for p in
              (await client.get("/api/v1/users/search?q=mar")).json()["items"]]
    assert set(prefix) >= {"mario", "mquill", "stone_m", "jmarin"}
    assert "zed" not in prefix

    await sign_up(client, name="Arild Berg", username="aberg")
    inner = [p["username"] for p in
             (await client.get("/api/v1/users/search?q=ari")).json()["items"]]
    assert inner[0] == "aberg"  # a name starting with "ari" ranks above "mARIo", "mARIanne"
    assert set(inner[1:]) >= {"mario", "mquill"}

    fuzzy = [p["username"] for p in
             (await client.get("/api/v1/users/search?q=marianne quil")).json()["items"]]
    assert fuzzy[0] == "mquill"
    typo = [p["username"] for p in
            (await client.get("/api/v1/users/search?q=mquil")).json()["items"]]
    assert typo == ["mquill"]

    page = (await client.get("/api/v1/users/search?q=mar&limit=2&offset=2")).json()
    assert page["items"] == (await client.get("/api/v1/users/search?q=mar")).json()["items"][2:4]


async def test_search_treats_sql_and_wildcards_literally(client):
    await sign_up(client, name="Plain Person", username="plain")
    for q in ["%", "_", "' OR 1=1 --", "\\"]:
        r = await client.get("/api/v1/users/search", params={"q": q})
        assert r.status_code == 200 and r.json()["items"] == [], q
    for q in ["", "x" * 101]:
        r = await client.get("/api/v1/users/search", params={"q": q})
        assert r.status_code == 422


async def test_search_hides_users_who_blocked_you(client):
    ann = await sign_up(client, name="Annika Blocker", username="annika")
    bob = await sign_up(client)
    await client.post(f"/api/v1/blocks/{uid(bob)}", headers=bearer(ann))
    hits = (await client.get("/api/v1/users/search?q=annika", headers=bearer(bob))).json()
    assert hits["items"] == []
    assert (await client.get("/api/v1/users/search?q=annika")).json()["items"]


async def test_search_uses_the_trigram_indexes(services):
    async with services.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(
            "EXPLAIN SELECT id FROM users u WHERE social_fold(u.username::text) LIKE '%mar%' "
            "OR social_fold(u.name) LIKE '%mar%' OR social_fold(u.username::text) % 'mar' "
            "OR 'mar' <% social_fold(u.name)"))
    assert "users_username_trgm_idx" in plan and "users_name_trgm_idx" in plan, plan
