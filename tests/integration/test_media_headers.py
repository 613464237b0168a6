"""An upload is served as inert bytes: a browser may not run it as a page or a script."""

from __future__ import annotations

from tests.support.http import bearer, sign_up
from tests.support.images import png


async def test_media_is_served_sandboxed_and_unsniffed(client):
    session = await sign_up(client)
    r = await client.post("/api/v1/image/upload", headers=bearer(session),
                          files={"file": ("photo.png", png(), "image/png")})
    assert r.status_code == 201, r.text
    served = await client.get(r.json()["url"])
    assert served.status_code == 200 and served.content == png()
    assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert served.headers["x-content-type-options"] == "nosniff"
