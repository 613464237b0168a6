"""CORS: a page on a listed origin may call the API from the browser, with its cookie."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.http import sign_up

APP_ORIGIN = "https://app.example.com"
OTHER_ORIGIN = "https://evil.example.net"


@pytest.fixture
def settings(base_settings, tmp_path):
    return replace(base_settings, data_dir=tmp_path, cors_origins=(APP_ORIGIN,))


def preflight(origin: str, method: str = "PATCH") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type"}


async def test_preflight_from_a_listed_origin_is_answered_with_credentials(client):
    r = await client.options("/api/v1/user/me", headers=preflight(APP_ORIGIN))
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP_ORIGIN
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "PATCH" in r.headers["access-control-allow-methods"]
    assert "content-type" in r.headers["access-control-allow-headers"].lower()


async def test_a_listed_origin_may_send_an_idempotency_key_and_read_the_replay(client):
    # A cross-origin create retried after a lost answer: the preflight lets the key through
    # and the page can read whether the answer was a replay.
    r = await client.options("/api/v1/blog", headers={
        **preflight(APP_ORIGIN, "POST"),
        "Access-Control-Request-Headers": "content-type, idempotency-key"})
    assert r.status_code == 200, r.text
    assert "idempotency-key" in r.headers["access-control-allow-headers"].lower()
    session = await sign_up(client)
    client.cookies.set("jwt", session["jwt"])
    r = await client.post("/api/v1/blog", json={"title": "T", "body": "B"},
                          headers={"Origin": APP_ORIGIN, "Idempotency-Key": "k"})
    assert r.status_code == 201, r.text
    exposed = r.headers["access-control-expose-headers"].lower()
    assert "idempotent-replayed" in exposed


async def test_an_unlisted_origin_gets_no_cors_headers(client):
    r = await client.options("/api/v1/user/me", headers=preflight(OTHER_ORIGIN))
    assert r.status_code != 200
    assert not any(name.startswith("access-control-") for name in r.headers)
    r = await client.get("/health", headers={"Origin": OTHER_ORIGIN})
    assert r.status_code == 200
    assert not any(name.startswith("access-control-") for name in r.headers)


async def test_a_listed_origin_writes_with_its_cookie_and_reads_errors(client):
    session = await sign_up(client)
    client.cookies.set("jwt", session["jwt"])
    r = await client.patch("/api/v1/user/me", json={"status": "from the app"},
                           headers={"Origin": APP_ORIGIN})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "from the app"
    assert r.headers["access-control-allow-origin"] == APP_ORIGIN
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
    # An error is readable by the page too: its CORS headers come with it.
    r = await client.get("/api/v1/user/me", headers={"Origin": APP_ORIGIN,
                                                     "Authorization": "Bearer nonsense"})
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == APP_ORIGIN


async def test_an_unlisted_origin_still_cannot_write_with_the_cookie(client):
    session = await sign_up(client)
    client.cookies.set("jwt", session["jwt"])
    r = await client.patch("/api/v1/user/me", json={"status": "forged"},
                           headers={"Origin": OTHER_ORIGIN})
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in r.headers
