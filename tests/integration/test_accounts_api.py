"""Accounts over HTTP, against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt as pyjwt

from tests.support.http import PASSWORD, bearer, sign_up


async def test_sign_up_answers_tokens_user_and_sets_httponly_cookie(client):
    r = await client.post(
        "/api/v1/user/signup",
        json={"email": "  Ann@Example.COM ", "password": PASSWORD, "name": "Ann", "username": "ann"},
    )
    assert r.status_code == 201
    body = r.json()
    assert body["user"]["email"] == "ann@example.com"
    assert body["user"]["username"] == "ann"
    assert body["jwt"] and body["refresh_token"]
    cookie = r.headers["set-cookie"]
    assert "jwt=" in cookie and "HttpOnly" in cookie
    assert "password" not in r.text and "argon2" not in r.text


async def test_duplicate_email_in_other_case_is_refused(client):
    await sign_up(client, email="bob@example.com")
    r = await client.post(
        "/api/v1/user/signup",
        json={"email": "BOB@example.com", "password": PASSWORD, "name": "Bob 2"},
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "email_taken"


async def test_username_is_unique_case_insensitively(client):
    await sign_up(client, username="Zed")
    r = await client.post(
        "/api/v1/user/signup",
        json={"email": "z2@example.com", "password": PASSWORD, "name": "Z", "username": "zED"},
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "username_taken"


async def test_sign_up_validation_names_the_fields(client):
    r = await client.post("/api/v1/user/signup", json={"email": "nope", "password": "short"})
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert "name" in fields
    r = await client.post(
        "/api/v1/user/signup", json={"email": "x@example.com", "password": "short", "name": "X"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "password"
    r = await client.post(
        "/api/v1/user/signup",
        json={"email": "x@example.com", "password": "é" * 513, "name": "X"},
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["code"] == "too_long"


async def test_sign_in_with_right_and_wrong_password(client):
    await sign_up(client, email="carl@example.com")
    ok = await client.post(
        "/api/v1/user/signin", json={"email": "CARL@example.com", "password": PASSWORD}
    )
    assert ok.status_code == 200
    assert ok.json()["user"]["email"] == "carl@example.com"
    bad = await client.post(
        "/api/v1/user/signin", json={"email": "carl@example.com", "password": "wrong password"}
    )
    unknown = await client.post(
        "/api/v1/user/signin", json={"email": "nobody@example.com", "password": "wrong password"}
    )
    assert bad.status_code == unknown.status_code == 401
    assert bad.json() == unknown.json()


async def test_me_with_bearer_and_with_cookie(client):
    session = await sign_up(client)
    r = await client.get("/api/v1/user/me", headers=bearer(session))
    assert r.status_code == 200 and r.json()["id"] == session["user"]["id"]
    client.cookies.set("jwt", session["jwt"])
    r = await client.get("/api/v1/user/me")
    assert r.status_code == 200 and r.json()["id"] == session["user"]["id"]


async def test_me_without_or_with_garbage_token_is_401(client):
    assert (await client.get("/api/v1/user/me")).status_code == 401
    r = await client.get("/api/v1/user/me", headers={"Authorization": "Bearer garbage"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
    r = await client.get("/api/v1/user/me", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


def _forge(claims: dict, key: str = "t" * 48, alg: str = "HS256") -> str:
    return pyjwt.encode(claims, key, algorithm=alg)


def _claims(user_id: int, **over) -> dict:
    now = int(time.time())
    base = {"sub": str(user_id), "sid": "00000000-0000-0000-0000-000000000000", "iat": now,
            "exp": now + 600, "iss": "nirvana", "aud": "nirvana", "jti": "x", "typ": "access"}
    base.update(over)
    return base


async def test_expired_tampered_and_alg_none_tokens_are_refused(client):
    session = await sign_up(client)
    uid = session["user"]["id"]
    expired = _forge(_claims(uid, iat=int(time.time()) - 2000, exp=int(time.time()) - 1000))
    r = await client.get("/api/v1/user/me", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "token_expired"

    header, payload, sig = session["jwt"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = str(uid + 1)
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = f"{header}.{forged_payload}.{sig}"
    r = await client.get("/api/v1/user/me", headers={"Authorization": f"Bearer {tampered}"})
    assert r.status_code == 401

    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    unsigned = f"{none_header}.{payload}."
    r = await client.get("/api/v1/user/me", headers={"Authorization": f"Bearer {unsigned}"})
    assert r.status_code == 401

    wrong_key = _forge(_claims(uid), key="another secret that is long enough!!")
    r = await client.get("/api/v1/user/me", headers={"Authorization": f"Bearer {wrong_key}"})
    assert r.status_code == 401

    wrong_aud = _forge(_claims(uid, aud="someone-else"))
    r = await client.get("/api/v1/user/me", headers={"Authorization": f"Bearer {wrong_aud}"})
    assert r.status_code == 401


async def test_refresh_token_is_not_an_access_token_nor_the_reverse(client):
    session = await sign_up(client)
    r = await client.get("/api/v1/user/me", headers=bearer({"jwt": session["refresh_token"]}))
    assert r.status_code == 401
    r = await client.post("/api/v1/user/refresh", json={"refresh_token": session["jwt"]})
    assert r.status_code == 401


async def test_refresh_rotates_and_reuse_revokes_the_family(client, services):
    session = await sign_up(client)
    first = await client.post("/api/v1/user/refresh",
                              json={"refresh_token": session["refresh_token"]})
    assert first.status_code == 200
    successor = first.json()
    assert successor["refresh_token"] != session["refresh_token"]
    # Pretend the reuse comes later than the race window.
    await services.pool.execute(
        "UPDATE refresh_tokens SET used_at = used_at - interval '1 minute' WHERE used_at IS NOT NULL"
    )
    reuse = await client.post("/api/v1/user/refresh",
                              json={"refresh_token": session["refresh_token"]})
    assert reuse.status_code == 401 and reuse.json()["error"]["code"] == "refresh_token_reused"
    # The thief's reuse ended the family: the successor and its access token are dead too.
    r = await client.post("/api/v1/user/refresh", json={"refresh_token": successor["refresh_token"]})
    assert r.status_code == 401
    r = await client.get("/api/v1/user/me", headers=bearer(successor))
    assert r.status_code == 401 and r.json()["error"]["code"] == "session_revoked"


async def test_concurrent_refreshes_of_one_token_yield_one_successor(client):
    session = await sign_up(client)
    results = await asyncio.gather(*[
        client.post("/api/v1/user/refresh", json={"refresh_token": session["refresh_token"]})
        for _ in range(5)
    ])
    winners = [r for r in results if r.status_code == 200]
    assert len(winners) == 1
    assert all(r.json()["error"]["code"] == "refresh_token_rotated"
               for r in results if r.status_code != 200)
    # The racing losers did not end the session: the winner's successor still works.
    again = await client.post("/api/v1/user/refresh",
                              json={"refresh_token": winners[0].json()["refresh_token"]})
    assert again.status_code == 200


async def test_logout_ends_the_session(client):
    session = await sign_up(client)
    r = await client.post("/api/v1/user/logout", json={"refresh_token": session["refresh_token"]},
                          headers=bearer(session))
    assert r.status_code == 204
    assert (await client.get("/api/v1/user/me", headers=bearer(session))).status_code == 401
    r = await client.post("/api/v1/user/refresh", json={"refresh_token": session["refresh_token"]})
    assert r.status_code == 401


async def test_cookie_write_from_foreign_origin_is_refused(client):
    session = await sign_up(client)
    client.cookies.set("jwt", session["jwt"])
    r = await client.patch("/api/v1/user/me", json={"about": "hi"},
                           headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    r = await client.patch("/api/v1/user/me", json={"about": "hi"})  # no Origin at all
    assert r.status_code == 403
    r = await client.patch("/api/v1/user/me", json={"about": "hi"},
                           headers={"Origin": "http://testserver"})
    assert r.status_code == 200 and r.json()["about"] == "hi"
    # A Bearer token is not sent by browsers on their own, so no Origin is needed.
    client.cookies.clear()
    r = await client.patch("/api/v1/user/me", json={"about": "bearer"}, headers=bearer(session))
    assert r.status_code == 200


async def test_profile_update_refuses_fields_the_user_does_not_own(client):
    session = await sign_up(client)
    for field, value in [("id", 99), ("email", "x@y.z"), ("role", "admin"),
                         ("email_verified", True), ("created_at", "2020-01-01T00:00:00Z")]:
        r = await client.patch("/api/v1/user/me", json={field: value}, headers=bearer(session))
        assert r.status_code == 422, field
        assert r.json()["error"]["details"][0]["field"] == field
    me = (await client.get("/api/v1/user/me", headers=bearer(session))).json()
    assert me["role"] == "user" and me["email"] == session["user"]["email"]


async def test_profile_update_changes_owned_fields(client):
    session = await sign_up(client)
    r = await client.patch(
        "/api/v1/user/me",
        json={"name": "New Name", "username": "new.name", "about": "<b>x</b>'; DROP TABLE users;--",
              "avatar": "https://img.example/a.png", "status": "busy writing"},
        headers=bearer(session),
    )
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["about"] == "<b>x</b>'; DROP TABLE users;--"
    assert (me["name"], me["username"], me["avatar"], me["status"]) == (
        "New Name", "new.name", "https://img.example/a.png", "busy writing")
    r = await client.patch("/api/v1/user/me", json={"avatar": None}, headers=bearer(session))
    assert r.json()["avatar"] is None and r.json()["name"] == "New Name"
    r = await client.patch("/api/v1/user/me", json={"avatar": "javascript:alert(1)"},
                           headers=bearer(session))
    assert r.status_code == 422


async def test_change_password_revokes_other_sessions(client):
    session = await sign_up(client, email="eve@example.com")
    other = (await client.post("/api/v1/user/signin",
                               json={"email": "eve@example.com", "password": PASSWORD})).json()
    r = await client.post("/api/v1/user/password", headers=bearer(session),
                          json={"current_password": "not it at all", "new_password": "n" * 12})
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_password"
    r = await client.post("/api/v1/user/password", headers=bearer(session),
                          json={"current_password": PASSWORD, "new_password": "new password 1"})
    assert r.status_code == 200
    fresh = r.json()
    assert (await client.get("/api/v1/user/me", headers=bearer(other))).status_code == 401
    assert (await client.post("/api/v1/user/refresh",
                              json={"refresh_token": other["refresh_token"]})).status_code == 401
    assert (await client.get("/api/v1/user/me", headers=bearer(fresh))).status_code == 200
    r = await client.post("/api/v1/user/signin",
                          json={"email": "eve@example.com", "password": "new password 1"})
    assert r.status_code == 200


async def test_sign_in_rate_limit_per_ip_and_account(client):
    await sign_up(client, email="frank@example.com")
    codes = []
    for _ in range(11):
        r = await client.post("/api/v1/user/signin",
                              json={"email": "frank@example.com", "password": "wrong wrong"})
        codes.append(r.status_code)
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] == "rate_limited"
    # The owner, from another IP, is not locked out by the attacker's failures.
    import httpx

    other_ip = httpx.ASGITransport(app=client._transport.app, client=("198.51.100.9", 1))
    async with httpx.AsyncClient(transport=other_ip, base_url="http://testserver") as owner:
        r = await owner.post("/api/v1/user/signin",
                             json={"email": "frank@example.com", "password": PASSWORD})
        assert r.status_code == 200


async def _wait_for_mail(outbox, count: int = 1) -> list:
    for _ in range(200):
        files = sorted(outbox.glob("*.eml")) if outbox.exists() else []
        if len(files) >= count:
            return files
        await asyncio.sleep(0.02)
    raise AssertionError("no mail in the outbox")


async def test_password_reset_by_mail_end_to_end(client, settings):
    import email
    import email.policy
    import re

    old = await sign_up(client, email="gina@example.com")
    r = await client.post("/api/v1/user/password/forgot", json={"email": "GINA@example.com"})
    assert r.status_code == 202
    unknown = await client.post("/api/v1/user/password/forgot", json={"email": "no@example.com"})
    assert unknown.status_code == 202 and unknown.json() == r.json()

    [eml] = await _wait_for_mail(settings.data_dir / "outbox")
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"] == "gina@example.com"
    assert oct(eml.stat().st_mode & 0o777) == "0o600"
    token = re.search(r"token=(\S+)", message.get_body(("plain",)).get_content()).group(1)

    r = await client.post("/api/v1/user/password/reset",
                          json={"token": token, "new_password": "short"})
    assert r.status_code == 422  # a bad new password does not spend the token
    r = await client.post("/api/v1/user/password/reset",
                          json={"token": token, "new_password": "a brand new one"})
    assert r.status_code == 204
    again = await client.post("/api/v1/user/password/reset",
                              json={"token": token, "new_password": "a brand new two"})
    assert again.status_code == 422 and again.json()["error"]["details"][0]["field"] == "token"
    assert (await client.post("/api/v1/user/refresh",
                              json={"refresh_token": old["refresh_token"]})).status_code == 401
    r = await client.post("/api/v1/user/signin",
                          json={"email": "gina@example.com", "password": "a brand new one"})
    assert r.status_code == 200


async def test_forgot_password_rate_limit_per_ip(client):
    codes = [
        (await client.post("/api/v1/user/password/forgot", json={"email": f"{i}@example.com"}))
        .status_code for i in range(11)
    ]
    assert codes[:10] == [202] * 10 and codes[10] == 429


async def test_reset_token_is_stored_hashed(client, services, settings):
    await sign_up(client, email="hal@example.com")
    await client.post("/api/v1/user/password/forgot", json={"email": "hal@example.com"})
    [eml] = await _wait_for_mail(settings.data_dir / "outbox")
    import re

    import email
    import email.policy

    body = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default) \
        .get_body(("plain",)).get_content()
    token = re.search(r"token=(\S+)", body).group(1)
    stored = await services.pool.fetchval("SELECT token_hash FROM password_resets")
    assert token.encode() not in stored and len(stored) == 32
    assert await services.pool.fetchval(
        "SELECT count(*) FROM refresh_tokens WHERE position($1::bytea in token_hash) > 0",
        token.encode()) == 0


async def test_purge_deletes_long_expired_tokens_in_postgres(client, services):
    session = await sign_up(client)
    await sign_up(client)
    await services.pool.execute(
        "UPDATE refresh_tokens SET expires_at = now() - interval '2 days' WHERE user_id = $1",
        session["user"]["id"])
    assert await services.accounts.purge_expired() == 1
    assert await services.pool.fetchval("SELECT count(*) FROM refresh_tokens") == 1


async def test_me_reflects_a_profile_update_at_once_and_revocation_still_applies(client):
    # GET /me is served from the in-process user cache: a write must show on the next read,
    # and a cached (already verified) token must still be refused once its session ends.
    session = await sign_up(client, email="cache@example.com")
    assert (await client.get("/api/v1/user/me", headers=bearer(session))).json()["name"]
    r = await client.patch("/api/v1/user/me", json={"name": "Renamed", "status": "away"},
                           headers=bearer(session))
    assert r.status_code == 200
    me = (await client.get("/api/v1/user/me", headers=bearer(session))).json()
    assert (me["name"], me["status"]) == ("Renamed", "away")
    r = await client.post("/api/v1/user/logout", json={}, headers=bearer(session))
    assert r.status_code == 204
    r = await client.get("/api/v1/user/me", headers=bearer(session))
    assert r.status_code == 401 and r.json()["error"]["code"] == "session_revoked"


async def test_refresh_and_logout_with_the_cookie_need_no_body(client):
    r = await client.post("/api/v1/user/signup",
                          json={"email": "ivy@example.com", "password": PASSWORD, "name": "Ivy"})
    assert r.status_code == 201
    origin = {"Origin": "http://testserver"}
    # The refresh cookie is path-scoped to /api/v1/user and sent by the client on its own.
    r = await client.post("/api/v1/user/refresh", headers=origin)
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/user/logout", headers=origin)
    assert r.status_code == 204, r.text
    r = await client.post("/api/v1/user/signup", content=b"not json")
    assert r.status_code == 415  # a body that does not say it is JSON is still refused


async def test_sign_up_rate_limit_answers_429(stores, settings):
    import dataclasses

    import httpx

    from nirvana.app import create_app
    from nirvana.bootstrap import build_services

    strict = dataclasses.replace(settings, signups_per_ip_hour=2)
    services = build_services(strict, *stores, secret="t" * 48)
    transport = httpx.ASGITransport(app=create_app(strict, services))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        codes = [(await c.post("/api/v1/user/signup", json={
            "email": f"rl{i}@example.com", "password": PASSWORD, "name": "R"})).status_code
            for i in range(3)]
    assert codes == [201, 201, 429]


