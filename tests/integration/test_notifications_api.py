"""/api/v1/notifications over HTTP: the list with cursor paging, the unread count, mark
read, delete, and that nobody reaches another's notifications."""

from __future__ import annotations

import pytest

from tests.support.http import bearer, sign_up

pytestmark = pytest.mark.anyio


def uid(session: dict) -> int:
    return session["user"]["id"]


async def followed_by(client, user: dict, n: int) -> list[dict]:
    followers = [await sign_up(client) for _ in range(n)]
    for f in followers:
        r = await client.post(f"/api/v1/follows/{uid(user)}", headers=bearer(f))
        assert r.status_code == 201
    return followers


async def test_the_list_pages_by_cursor_latest_first(client):
    bob = await sign_up(client)
    followers = await followed_by(client, bob, 5)
    seen, cursor = [], None
    while True:
        r = await client.get("/api/v1/notifications", headers=bearer(bob),
                             params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["unread"] == 5
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert [n["actors"][0]["id"] for n in seen] == [uid(f) for f in reversed(followers)]
    first = seen[0]
    assert first["kind"] == "new_follower" and first["read"] is False
    assert first["text"] == f"{followers[-1]['user']['name']} started following you"
    assert first["link"] == f"/people/{uid(followers[-1])}"


async def test_mark_one_and_all_read_and_delete(client):
    bob = await sign_up(client)
    await followed_by(client, bob, 3)
    items = (await client.get("/api/v1/notifications", headers=bearer(bob))).json()["items"]

    r = await client.post(f"/api/v1/notifications/{items[0]['id']}/read", headers=bearer(bob))
    assert r.status_code == 200 and r.json() == {"unread": 2}
    r = await client.get("/api/v1/notifications/unread", headers=bearer(bob))
    assert r.json() == {"unread": 2}

    r = await client.delete(f"/api/v1/notifications/{items[1]['id']}", headers=bearer(bob))
    assert r.status_code == 200 and r.json() == {"unread": 1}
    r = await client.post("/api/v1/notifications/read", headers=bearer(bob))
    assert r.json() == {"unread": 0}
    body = (await client.get("/api/v1/notifications", headers=bearer(bob))).json()
    assert [n["read"] for n in body["items"]] == [True, True]


async def test_every_route_refuses_anonymous_callers_and_others_ids(client):
    bob, eve = await sign_up(client), await sign_up(client)
    await followed_by(client, bob, 1)
    [item] = (await client.get("/api/v1/notifications", headers=bearer(bob))).json()["items"]
    one = f"/api/v1/notifications/{item['id']}"
    routes = [("GET", "/api/v1/notifications"), ("GET", "/api/v1/notifications/unread"),
              ("POST", "/api/v1/notifications/read"), ("POST", one + "/read"),
              ("DELETE", one)]
    for method, path in routes:
        r = await client.request(method, path)
        assert r.status_code == 401, (method, path)
        assert r.json()["error"]["code"] == "unauthenticated"
    for method, path in [("POST", one + "/read"), ("DELETE", one),
                         ("DELETE", "/api/v1/notifications/99999999999999999999999")]:
        r = await client.request(method, path, headers=bearer(eve))
        assert r.status_code == 404, (method, path)
        assert r.json()["error"]["code"] == "notification_not_found"
    # Eve's "mark all read" touched nothing of Bob's.
    await client.post("/api/v1/notifications/read", headers=bearer(eve))
    assert (await client.get("/api/v1/notifications/unread",
                             headers=bearer(bob))).json() == {"unread": 1}


async def test_bad_paging_gets_the_one_error_shape(client):
    bob = await sign_up(client)
    for params in ({"cursor": "not-a-cursor"}, {"cursor": "eDox"}, {"limit": 0},
                   {"limit": 101}):
        r = await client.get("/api/v1/notifications", headers=bearer(bob), params=params)
        assert r.status_code in (400, 422), (params, r.text)
        assert "code" in r.json()["error"]


async def test_the_routes_are_in_openapi(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {"/api/v1/notifications", "/api/v1/notifications/unread",
            "/api/v1/notifications/read", "/api/v1/notifications/{notification_id}/read",
            "/api/v1/notifications/{notification_id}"} <= set(paths)
