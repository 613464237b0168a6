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


async def test_a_range_is_served_and_a_bad_one_refused_in_the_one_error_shape(client):
    # Players ask for ranges (seeking in a video); a Range the server cannot serve gets
    # the JSON error every other refusal has, not a bare text/plain answer.
    session = await sign_up(client)
    r = await client.post("/api/v1/media/upload", headers=bearer(session),
                          files={"file": ("photo.png", png(), "image/png")})
    url, size = r.json()["url"], len(png())
    part = await client.get(url, headers={"Range": "bytes=0-3"})
    assert part.status_code == 206 and part.content == png()[:4]
    assert part.headers["content-range"] == f"bytes 0-3/{size}"
    tail = await client.get(url, headers={"Range": "bytes=-4"})
    assert tail.status_code == 206 and tail.content == png()[-4:]
    huge = "9" * 5000  # int() refuses past 4,300 digits: once a 500 with a stack trace
    for header in ("bytes=abc", "bytes=5-2", "items=0-1", "bytes=", "bytes=1_0-20",
                   f"bytes=0-{huge}", f"bytes={huge}-"):
        r = await client.get(url, headers={"Range": header})
        assert r.status_code == 400, (header, r.text)
        assert r.json()["error"]["code"] == "invalid_range", header
    for header in (f"bytes={size}-", f"bytes=0-1,{size + 10}-{size + 20}", "bytes=-0"):
        r = await client.get(url, headers={"Range": header})
        assert r.status_code == 416, (header, r.text)
        assert r.json()["error"]["code"] == "range_not_satisfiable", header
        assert r.headers["content-range"] == f"bytes */{size}"
        assert r.headers["x-content-type-options"] == "nosniff"


async def test_an_if_range_for_another_version_gets_the_whole_file(client):
    # RFC 9110 13.1.5: a Range under an If-Range that does not match is ignored, so even a
    # range the file cannot satisfy gets the whole file, as a cache revalidating expects.
    session = await sign_up(client)
    r = await client.post("/api/v1/media/upload", headers=bearer(session),
                          files={"file": ("photo.png", png(), "image/png")})
    url, size = r.json()["url"], len(png())
    current = (await client.get(url)).headers["etag"]
    for if_range in ('"another-version"', "W/" + current):
        r = await client.get(url, headers={"Range": f"bytes={size + 5}-", "If-Range": if_range})
        assert r.status_code == 200 and r.content == png(), if_range
    r = await client.get(url, headers={"Range": f"bytes={size + 5}-", "If-Range": current})
    assert r.status_code == 416 and r.json()["error"]["code"] == "range_not_satisfiable"
    r = await client.get(url, headers={"Range": "bytes=0-3", "If-Range": current})
    assert r.status_code == 206 and r.content == png()[:4]
