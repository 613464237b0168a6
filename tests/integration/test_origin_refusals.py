"""A write refused `origin_not_allowed` tells the operator why, in the log, and the page's
reader what to do, without naming the expected address to them."""

from __future__ import annotations

import logging

from tests.support.http import sign_up

PROXY_ORIGIN = "https://nirvana.example:8443"


def refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "nirvana.http" and "origin check" in r.getMessage()]


async def test_an_api_write_and_a_form_from_an_unknown_origin_are_logged_once(client, caplog):
    session = await sign_up(client)
    caplog.set_level(logging.WARNING, logger="nirvana.http")
    client.cookies.set("jwt", session["jwt"])
    r = await client.patch("/api/v1/user/me", json={"about": "x"},
                           headers={"Origin": PROXY_ORIGIN})
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    (line,) = refusals(caplog)
    assert repr(PROXY_ORIGIN) in line and "allowed: http://testserver" in line
    assert "PUBLIC_URL http://testserver" in line

    client.cookies.clear()
    r = await client.post("/signin", data={"email": "a@example.com", "password": "x"},
                          headers={"Origin": PROXY_ORIGIN})
    assert r.status_code == 403
    assert "not set up for" in r.text and "http://testserver" not in r.text
    assert len(refusals(caplog)) == 1  # the same origin: told once


async def test_a_malformed_referer_is_no_origin_refused_403_not_a_crash(client, caplog):
    """`urlsplit` raises on `http://[x/`; anyone may send it, on a form or with any cookie."""
    caplog.set_level(logging.WARNING, logger="nirvana.http")
    bad = {"Referer": "http://[x/"}
    r = await client.post("/signin", data={"email": "a@example.com", "password": "x"},
                          headers=bad)
    assert r.status_code == 403, r.text
    client.cookies.set("jwt", "x")
    r = await client.patch("/api/v1/user/me", json={"about": "x"}, headers=bad)
    assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
    (line,) = refusals(caplog)
    assert "from no Origin or usable Referer" in line
