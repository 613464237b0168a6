"""Security headers on every response, HSTS over https only, and a route's own CSP kept."""

from __future__ import annotations

import httpx

from nirvana.app import create_app
from tests.support.http import bearer, sign_up
from tests.support.images import png


def assert_security_headers(r: httpx.Response) -> None:
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert r.headers["x-frame-options"] == "DENY"


async def test_every_response_carries_the_security_headers(client):
    for r in (await client.get("/health"), await client.get("/api/v1/user/me"),
              await client.get("/no/such/page"), await client.delete("/health")):
        assert_security_headers(r)
        assert r.headers["content-security-policy"] == "frame-ancestors 'none'"
        assert "strict-transport-security" not in r.headers  # plain http


async def test_hsts_is_sent_over_https(services, settings):
    app = create_app(settings, services)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as https:
        r = await https.get("/health")
    assert r.headers["strict-transport-security"] == "max-age=31536000"
    assert_security_headers(r)


async def test_media_keeps_its_own_content_security_policy(client):
    session = await sign_up(client)
    r = await client.post("/api/v1/image/upload", headers=bearer(session),
                          files={"file": ("a.png", png(), "image/png")})
    served = await client.get(r.json()["url"])
    assert served.status_code == 200
    assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert_security_headers(served)


async def test_a_page_with_a_token_in_its_url_sends_only_its_origin_as_referer(client):
    """The mailed links' pages, a bad token's error page too: what they load (the
    stylesheet, a link followed) must not carry their URL, and so the token, into a log."""
    for url in ("/reset-password?token=a-reset-token", "/verify-email?token=a-verify-token",
                "/unsubscribe?token=an-unsubscribe-token"):
        r = await client.get(url, headers={"Accept": "text/html"})
        assert "text/html" in r.headers["content-type"], url
        assert r.headers["referrer-policy"] == "strict-origin", (url, r.status_code)
    r = await client.get("/signin", headers={"Accept": "text/html"})
    assert r.headers["referrer-policy"] == "same-origin"
