"""Features that meet: profiles count blogs, uploads feed blogs and avatars."""

from __future__ import annotations

from tests.support.http import bearer, sign_up
from tests.support.images import png

BLOG = {"title": "Hello", "body": "# Hi", "summary": "s", "tags": ["a"], "status": "published"}


async def test_profile_counts_published_blogs_only(client):
    ann = await sign_up(client)
    for status in ("published", "published", "draft"):
        r = await client.post("/api/v1/blog", json={**BLOG, "status": status},
                              headers=bearer(ann))
        assert r.status_code == 201, r.text
    viewer = await sign_up(client)
    r = await client.get(f"/api/v1/users/{ann['user']['id']}", headers=bearer(viewer))
    assert r.status_code == 200
    assert r.json()["counts"]["blogs"] == 2


async def test_uploaded_image_serves_as_avatar_and_blog_header(client):
    ann = await sign_up(client)
    r = await client.post("/api/v1/image/upload", headers=bearer(ann),
                          files={"file": ("me.png", png(), "image/png")})
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    r = await client.patch("/api/v1/user/me", json={"avatar": url}, headers=bearer(ann))
    assert r.status_code == 200 and r.json()["avatar"] == url
    r = await client.post("/api/v1/blog", json={**BLOG, "header_image": url}, headers=bearer(ann))
    assert r.status_code == 201 and r.json()["header_image"] == url
    served = await client.get(url)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
