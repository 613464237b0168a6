"""Email verification and change over HTTP, with the mail read from the real outbox."""

from __future__ import annotations

from tests.support.http import PASSWORD, bearer, mails_when, sign_up, verify_token_in


async def test_verify_by_the_mailed_link_and_change_the_address(client, settings):
    ann = await sign_up(client, email="ann@example.com")
    assert ann["user"]["email_verified"] is False
    r = await client.post("/api/v1/user/email/verification", headers=bearer(ann))
    assert r.status_code == 202
    [(to, body)] = await mails_when(settings.data_dir / "outbox", 1)
    assert to == "ann@example.com"
    r = await client.post("/api/v1/user/email/verify", json={"token": verify_token_in(body)})
    assert r.status_code == 200 and r.json()["email_verified"] is True
    me = await client.get("/api/v1/user/me", headers=bearer(ann))
    assert me.json()["email_verified"] is True
    r = await client.post("/api/v1/user/email/verification", headers=bearer(ann))
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_verified"

    r = await client.put("/api/v1/user/email", headers=bearer(ann),
                         json={"email": "ann@example.org", "password": "wrong password"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "wrong_password"
    r = await client.put("/api/v1/user/email", headers=bearer(ann),
                         json={"email": "ann@example.org", "password": PASSWORD})
    assert r.status_code == 200
    assert r.json()["email"] == "ann@example.org" and r.json()["email_verified"] is False
    sent = (await mails_when(settings.data_dir / "outbox", 3))[1:]
    assert sorted(to for to, _ in sent) == ["ann@example.com", "ann@example.org"]
    notice = next(b for to, b in sent if to == "ann@example.com")
    assert "a**@example.org" in notice
    # The first link was for the old address: it verifies nothing now.
    r = await client.post("/api/v1/user/email/verify", json={"token": verify_token_in(body)})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "token"
    r = await client.post("/api/v1/user/signin", json={"email": "ann@example.org",
                                                       "password": PASSWORD})
    assert r.status_code == 200


async def test_email_routes_refuse_anonymous_callers_and_taken_addresses(client):
    ann = await sign_up(client)
    bob = await sign_up(client)
    for method, path, body in (("POST", "/api/v1/user/email/verification", None),
                               ("PUT", "/api/v1/user/email",
                                {"email": "x@example.com", "password": PASSWORD})):
        r = await client.request(method, path, json=body)
        assert r.status_code == 401, path
    r = await client.put("/api/v1/user/email", headers=bearer(ann),
                         json={"email": bob["user"]["email"].upper(), "password": PASSWORD})
    assert r.status_code == 409 and r.json()["error"]["code"] == "email_taken"
    r = await client.post("/api/v1/user/email/verify", json={"token": "1.99999999999.forged"})
    assert r.status_code == 422


async def test_openapi_documents_the_email_routes(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "409" in paths["/api/v1/user/email/verification"]["post"]["responses"]
    assert "422" in paths["/api/v1/user/email/verify"]["post"]["responses"]
    assert "409" in paths["/api/v1/user/email"]["put"]["responses"]
