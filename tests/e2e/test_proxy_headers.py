"""Behind a TLS proxy: X-Forwarded-Proto/-For are believed only from FORWARDED_ALLOW_IPS."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from tests.support.http import PASSWORD, sign_up

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.9"}


@pytest.fixture(params=["127.0.0.1", None], ids=["trusted-proxy", "no-trusted-proxy"])
def settings(request, base_settings, tmp_path):
    return replace(base_settings, data_dir=tmp_path, forwarded_allow_ips=request.param)


async def test_forwarded_headers_count_only_from_a_trusted_proxy(live, settings, caplog):
    session = await sign_up(live.http)
    caplog.set_level(logging.INFO, logger="nirvana.access")
    r = await live.http.post("/api/v1/user/signin", headers=FORWARDED,
                             json={"email": session["user"]["email"], "password": PASSWORD})
    assert r.status_code == 200, r.text
    cookies = r.headers.get_list("set-cookie")
    assert {c.split("=")[0] for c in cookies} == {"jwt", "refresh_token"}
    (line,) = [rec for rec in caplog.records
               if rec.name == "nirvana.access" and rec.route == "/api/v1/user/signin"]
    if settings.forwarded_allow_ips:
        assert all("; secure" in c.lower() for c in cookies)
        assert r.headers["strict-transport-security"] == "max-age=31536000"
        assert line.client == "198.51.100.9"
    else:
        assert not any("; secure" in c.lower() for c in cookies)
        assert "strict-transport-security" not in r.headers
        assert line.client == "127.0.0.1"


def _attributes(set_cookie: str) -> tuple[str, frozenset[str]]:
    """A Set-Cookie's name and its attributes but for the value and lifetime."""
    first, *attributes = [part.strip().lower() for part in set_cookie.split(";")]
    return first.split("=")[0], frozenset(
        a for a in attributes if not a.startswith(("max-age=", "expires=")))


@pytest.mark.parametrize("path", ["/api/v1/user/logout", "/signout"])
async def test_the_cookies_are_cleared_with_the_attributes_they_were_set_with(
        live, settings, path):
    session = await sign_up(live.http)
    r = await live.http.post("/api/v1/user/signin", headers=FORWARDED,
                             json={"email": session["user"]["email"], "password": PASSWORD})
    set_with = dict(_attributes(c) for c in r.headers.get_list("set-cookie"))
    # Sent by hand: a cookie set `Secure` is not sent back over http by httpx's jar.
    cookies = "; ".join(f"{name}={value}" for name, value in r.cookies.items())
    live.http.cookies.clear()
    r = await live.http.post(path, headers={**FORWARDED, "Cookie": cookies},
                             follow_redirects=False)
    assert r.status_code in (204, 303), r.text
    cleared = dict(_attributes(c) for c in r.headers.get_list("set-cookie"))
    assert cleared == set_with and set(cleared) == {"jwt", "refresh_token"}
    assert all("httponly" in a for a in cleared.values())
    assert all(("secure" in a) == bool(settings.forwarded_allow_ips) for a in cleared.values())
