"""CSRF for cookie-authenticated writes when a browser sends no Origin: the Referer decides."""

from __future__ import annotations

import pytest

from tests.support.http import sign_up


@pytest.mark.parametrize("referer, status", [
    ("http://testserver/settings/profile?tab=1", 200),  # our own page
    ("https://evil.example/http://testserver/", 403),
    ("http://testserver.evil.example/page", 403),
    ("not a url", 403),
])
async def test_a_cookie_write_without_origin_is_judged_by_its_referer(client, referer, status):
    session = await sign_up(client)
    client.cookies.set("jwt", session["jwt"])
    r = await client.patch("/api/v1/user/me", json={"about": "from a page"},
                           headers={"Referer": referer})
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["error"]["code"] == "origin_not_allowed"
    me = await client.get("/api/v1/user/me")
    assert me.json()["about"] == ("from a page" if status == 200 else "")


async def test_origin_outranks_the_referer(client):
    session = await sign_up(client)
    client.cookies.set("jwt", session["jwt"])
    r = await client.patch("/api/v1/user/me", json={"about": "x"},
                           headers={"Origin": "https://evil.example",
                                    "Referer": "http://testserver/page"})
    assert r.status_code == 403
