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
