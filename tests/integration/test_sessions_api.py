"""The session list over HTTP, against the real PostgreSQL: what it shows, who may end what."""

from __future__ import annotations

from tests.support.http import PASSWORD, bearer, sign_up

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0 Mobile Safari/537.36")


async def sign_in(client, session: dict, agent: str) -> dict:
    r = await client.post("/api/v1/user/signin", headers={"User-Agent": agent}, json={
        "email": session["user"]["email"], "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return r.json()


async def sessions_of(client, session: dict) -> list[dict]:
    r = await client.get("/api/v1/user/sessions", headers=bearer(session))
    assert r.status_code == 200, r.text
    return r.json()["sessions"]


async def test_each_sign_in_is_listed_with_its_device_and_network_newest_first(client):
    first = await sign_up(client)
    laptop = await sign_in(client, first, FIREFOX)
    phone = await sign_in(client, first, ANDROID)
    listed = await sessions_of(client, laptop)
    assert [(s["device"], s["current"]) for s in listed] == [
        ("Chrome on Android", False), ("Firefox on Linux", True), ("Python", False)]
    # The network, never the address: the test client's 203.0.113.x is kept as its /24.
    assert {s["ip"] for s in listed} == {"203.0.113.0/24"}
    assert phone["user"]["id"] == laptop["user"]["id"]
    assert all(s["created_at"] and s["last_used_at"] for s in listed)


async def test_a_refresh_is_the_same_session_used_again(client):
    session = await sign_up(client)
    [before] = await sessions_of(client, session)
    r = await client.post("/api/v1/user/refresh",
                          json={"refresh_token": session["refresh_token"]})
    renewed = r.json()
    [after] = await sessions_of(client, renewed)
    assert after["id"] == before["id"] and after["last_used_at"] > before["last_used_at"]


async def test_ending_one_session_signs_it_out_everywhere_it_is_used(client):
    phone = await sign_up(client)
    laptop = await sign_in(client, phone, FIREFOX)
    phone_sid = next(s["id"] for s in await sessions_of(client, laptop) if not s["current"])
    r = await client.delete(f"/api/v1/user/sessions/{phone_sid}", headers=bearer(laptop))
    assert r.status_code == 204
    assert (await client.get("/api/v1/user/me", headers=bearer(phone))).status_code == 401
    r = await client.post("/api/v1/user/refresh", json={"refresh_token": phone["refresh_token"]})
    assert r.status_code == 401
    assert [s["current"] for s in await sessions_of(client, laptop)] == [True]


async def test_ending_all_others_keeps_this_one(client):
    first = await sign_up(client)
    others = [await sign_in(client, first, FIREFOX) for _ in range(2)]
    r = await client.post("/api/v1/user/sessions/end-others", headers=bearer(others[0]))
    assert r.status_code == 200 and r.json() == {"ended": 2}
    for gone in (first, others[1]):
        assert (await client.get("/api/v1/user/me", headers=bearer(gone))).status_code == 401
    assert (await client.get("/api/v1/user/me", headers=bearer(others[0]))).status_code == 200
    assert len(await sessions_of(client, others[0])) == 1


async def test_sessions_routes_refuse_anonymous_and_other_users(client):
    ann, bob = await sign_up(client), await sign_up(client)
    [ann_session] = await sessions_of(client, ann)
    sid = ann_session["id"]
    for method, path in (("GET", "/api/v1/user/sessions"),
                         ("POST", "/api/v1/user/sessions/end-others"),
                         ("DELETE", f"/api/v1/user/sessions/{sid}")):
        r = await client.request(method, path)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated", path
    # Bob sees only his own sessions and cannot end Ann's: it does not exist for him.
    assert [s["id"] for s in await sessions_of(client, bob)] != [sid]
    for bad in (sid, "not-a-uuid"):
        r = await client.delete(f"/api/v1/user/sessions/{bad}", headers=bearer(bob))
        assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found"
    r = await client.post("/api/v1/user/sessions/end-others", headers=bearer(bob))
    assert r.json() == {"ended": 0}
    assert (await client.get("/api/v1/user/me", headers=bearer(ann))).status_code == 200


async def test_cookie_session_end_needs_an_allowed_origin(client):
    ann = await sign_up(client)
    [mine] = await sessions_of(client, ann)
    client.cookies.set("jwt", ann["jwt"])
    r = await client.delete(f"/api/v1/user/sessions/{mine['id']}",
                            headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    client.cookies.clear()
    assert (await client.get("/api/v1/user/me", headers=bearer(ann))).status_code == 200


async def test_openapi_documents_the_session_routes(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths["/api/v1/user/sessions"]) == {"get"}
    assert "404" in paths["/api/v1/user/sessions/{id}"]["delete"]["responses"]
    assert "401" in paths["/api/v1/user/sessions/end-others"]["post"]["responses"]
