"""Image upload and serving over HTTP, with local storage."""

from __future__ import annotations

import pytest

from tests.support.http import bearer, sign_up
from tests.support.images import EXE, gif, jpeg, png, webp

pytestmark = pytest.mark.anyio
UPLOAD = "/api/v1/image/upload"


async def upload(client, session, content: bytes, filename="photo.png", ctype="image/png",
                 field="file"):
    return await client.post(UPLOAD, headers=bearer(session),
                             files={field: (filename, content, ctype)})


async def test_png_named_exe_is_stored_and_served_as_png(client, settings):
    ann = await sign_up(client)
    data = png()
    r = await upload(client, ann, data, filename="virus.exe", ctype="application/x-msdownload")
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    assert url.startswith("/media/") and url.endswith(".png")
    assert list((settings.data_dir / "media").iterdir())[0].read_bytes() == data

    served = await client.get(url)
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in served.headers["cache-control"]
    assert "max-age=31536000" in served.headers["cache-control"]


@pytest.mark.parametrize("data,extension", [(jpeg(), "jpg"), (gif(), "gif"), (webp(), "webp")])
async def test_each_format_gets_its_own_extension(client, data, extension):
    ann = await sign_up(client)
    r = await upload(client, ann, data, filename="no-extension", ctype="text/plain")
    assert r.status_code == 201 and r.json()["url"].endswith("." + extension)


async def test_uploaded_avatar_url_is_accepted_by_profile(client):
    ann = await sign_up(client)
    url = (await upload(client, ann, png())).json()["url"]
    r = await client.patch("/api/v1/user/me", headers=bearer(ann), json={"avatar": url})
    assert r.status_code == 200 and r.json()["avatar"] == url


async def test_exe_named_png_is_415(client, settings):
    ann = await sign_up(client)
    r = await upload(client, ann, EXE, filename="cat.png", ctype="image/png")
    assert r.status_code == 415 and r.json()["error"]["code"] == "not_an_image"
    assert not (settings.data_dir / "media").exists()


async def test_truncated_png_is_422(client):
    ann = await sign_up(client)
    r = await upload(client, ann, png()[:-20])
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_image"


async def test_empty_file_and_missing_field_are_422(client):
    ann = await sign_up(client)
    r = await upload(client, ann, b"")
    assert r.status_code == 422 and r.json()["error"]["code"] == "empty_file"
    r = await upload(client, ann, png(), field="image")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "file"


async def test_not_multipart_is_415_and_broken_multipart_is_400(client):
    ann = await sign_up(client)
    r = await client.post(UPLOAD, headers=bearer(ann), content=png(),
                          params=None)
    assert r.status_code == 415
    r = await client.post(UPLOAD, headers={**bearer(ann),
                                           "content-type": "multipart/form-data; boundary=xyz"},
                          content=b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n"
                                  b"\r\n\x89PNG")
    assert r.status_code == 400


async def test_upload_needs_a_session(client):
    r = await client.post(UPLOAD, files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 401


class CountingBody:
    """A 50 MB body that counts how much of it the server pulled."""

    def __init__(self, total: int = 50 * 1000 * 1000, chunk: int = 1000 * 1000) -> None:
        self.total, self.chunk, self.pulled = total, chunk, 0

    async def __aiter__(self):
        head = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n"
                b"Content-Type: image/png\r\n\r\n") + png()
        yield head
        self.pulled += len(head)
        while self.pulled < self.total:
            self.pulled += self.chunk
            yield b"\x00" * self.chunk


async def test_50_mb_body_is_refused_before_it_is_read(client, settings):
    ann = await sign_up(client)
    headers = {**bearer(ann), "content-type": "multipart/form-data; boundary=b"}

    announced = CountingBody()
    r = await client.post(UPLOAD, content=announced,
                          headers={**headers, "content-length": str(announced.total)})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert announced.pulled == 0

    chunked = CountingBody()  # no Content-Length: counted as it arrives
    r = await client.post(UPLOAD, content=chunked, headers=headers)
    assert r.status_code == 413
    assert chunked.pulled <= settings.max_upload_bytes + 2 * chunked.chunk
    assert not (settings.data_dir / "media").exists()


@pytest.mark.parametrize("name", ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "x.png",
                                  "AAAAAAAAAAAAAAAAAAAAAAAA.exe", "AAAAAAAAAAAAAAAAAAAAAAAA.png",
                                  ".AAAAAAAAAAAAAAAAAAAAAAAA.png.tmp"])
async def test_media_route_serves_only_stored_names(client, name):
    r = await client.get(f"/media/{name}")
    assert r.status_code == 404


async def test_openapi_describes_the_new_routes(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "multipart/form-data" in paths["/api/v1/image/upload"]["post"]["requestBody"]["content"]
    for path in ["/api/v1/users/{user_id}", "/api/v1/users/search", "/api/v1/friends",
                 "/api/v1/friends/requests/{user_id}", "/api/v1/follows/{user_id}",
                 "/api/v1/blocks", "/media/{name}"]:
        assert path in paths, path
