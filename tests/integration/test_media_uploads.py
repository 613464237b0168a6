"""Uploads of every kind over HTTP with local storage: the kind from the bytes, the limits,
the quota (exact when uploads race), and how each kind is served."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import pytest

from nirvana.domain.uploads import UploadLimits
from tests.support.http import bearer, sign_up
from tests.support.images import EXE, png
from tests.support.media_files import HTML, mp4, pdf, wav

pytestmark = pytest.mark.anyio
UPLOAD = "/api/v1/media/upload"


async def upload(client, session, data: bytes, name="x.txt", ctype="text/plain", query=""):
    return await client.post(UPLOAD + query, headers=bearer(session),
                             files={"file": (name, data, ctype)})


@pytest.mark.parametrize("data,kind,mime,extension", [
    (png(), "image", "image/png", "png"), (wav(), "audio", "audio/wav", "wav"),
    (mp4(), "video", "video/mp4", "mp4"), (pdf(), "file", "application/pdf", "pdf"),
])
async def test_each_kind_is_judged_by_its_bytes_and_served_as_itself(client, data, kind, mime,
                                                                      extension):
    ann = await sign_up(client)
    r = await upload(client, ann, data, name="misleading.html", ctype="text/html")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["kind"], body["mime"], body["size"]) == (kind, mime, len(data))
    assert body["url"].startswith("/media/") and body["url"].endswith("." + extension)
    served = await client.get(body["url"])
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"].split(";")[0] == mime
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"] == "default-src 'none'; sandbox"
    disposition = served.headers.get("content-disposition")
    if kind == "file":
        name = body["url"].removeprefix("/media/")
        assert disposition == f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
    else:
        assert disposition is None


@pytest.mark.parametrize("data", [HTML, EXE])
async def test_a_page_or_program_is_only_ever_a_download(client, data):
    ann = await sign_up(client)
    r = await upload(client, ann, data, name="index.html", ctype="text/html")
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "file" and r.json()["url"].endswith(".bin")
    served = await client.get(r.json()["url"])
    assert served.headers["content-type"] == "application/octet-stream"
    assert served.headers["content-disposition"].startswith("attachment;")


@pytest.mark.parametrize("asked,saved_as", [
    ("report.pdf", "report.pdf"),
    ("../../etc/passwd", "_.._etc_passwd.pdf"),
    ('a"b\\c.pdf', "a_b_c.pdf"),
    ("page.html", "page.html.pdf"),
    ("Ünïcødé résumé.pdf", "Ünïcødé résumé.pdf"),
])
async def test_a_download_is_saved_under_a_safe_name(client, asked, saved_as):
    ann = await sign_up(client)
    url = (await upload(client, ann, pdf())).json()["url"]
    served = await client.get(url, params={"name": asked})
    disposition = served.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=\"")
    assert disposition.endswith("filename*=UTF-8''" + quote(saved_as, safe=""))


async def test_kind_limits_and_the_asked_kind_are_enforced(client, services):
    services.uploads.limits = UploadLimits(video=50)
    ann = await sign_up(client)
    r = await upload(client, ann, mp4(100))
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    services.uploads.limits = UploadLimits()
    r = await upload(client, ann, wav(), query="?kind=video")
    assert r.status_code == 415 and r.json()["error"]["code"] == "not_video"
    # Each refusal names the kind asked for in plain words, and its own code.
    refused = {"image": (pdf(), "not_an_image", "Only JPEG, PNG, WebP and GIF images"),
               "audio": (png(), "not_audio", "This is not an audio file we can play"),
               "video": (pdf(), "not_video", "This is not a video we can play"),
               "file": (png(), "not_file", "This is an image, audio or video, not another file")}
    for kind, (data, code, message) in refused.items():
        r = await upload(client, ann, data, query=f"?kind={kind}")
        error = r.json()["error"]
        assert (r.status_code, error["code"]) == (415, code), kind
        assert error["message"].startswith(message), error["message"]
    r = await upload(client, ann, wav(), query="?kind=movie")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "kind"


async def test_over_quota_is_413_quota_exceeded_and_usage_is_shown(client, services):
    size = len(pdf())
    services.uploads.limits = UploadLimits(quota=size * 3)
    ann = await sign_up(client)
    empty = (await client.get("/api/v1/media/usage", headers=bearer(ann))).json()
    assert empty == {"used_bytes": 0, "quota_bytes": size * 3, "files": 0}
    # Five at once against room for three: exactly three get in, whatever the interleaving.
    answers = await asyncio.gather(*(upload(client, ann, pdf()) for _ in range(5)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 201, 201, 413, 413], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 413).json()["error"]
    assert refused["code"] == "quota_exceeded" and "quota" in refused["message"]
    usage = (await client.get("/api/v1/media/usage", headers=bearer(ann))).json()
    assert usage == {"used_bytes": size * 3, "quota_bytes": size * 3, "files": 3}
    # Images count too: the image route is held to the same quota.
    r = await client.post("/api/v1/image/upload", headers=bearer(ann),
                          files={"file": ("a.png", png(), "image/png")})
    assert r.status_code == 413 and r.json()["error"]["code"] == "quota_exceeded"


async def test_uploading_and_usage_need_a_signed_in_user(client):
    assert (await upload(client, {"jwt": "nope"}, pdf())).status_code == 401
    assert (await client.get("/api/v1/media/usage")).status_code == 401


async def test_openapi_describes_uploads_usage_and_downloads(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    upload_op = paths["/api/v1/media/upload"]["post"]
    assert "multipart/form-data" in upload_op["requestBody"]["content"]
    assert {"201", "413", "415"} <= set(upload_op["responses"])
    assert "kind" in {p["name"] for p in upload_op["parameters"]}
    assert "/api/v1/media/usage" in paths
    assert "name" in {p["name"] for p in paths["/media/{name}"]["get"]["parameters"]}


async def test_your_profile_shows_your_storage_and_nobody_elses(client):
    ann, bob = await sign_up(client), await sign_up(client)
    await upload(client, ann, pdf())
    mine = (await client.get(f"/api/v1/users/{ann['user']['id']}", headers=bearer(ann))).json()
    assert mine["storage"]["used_bytes"] == len(pdf()) and mine["storage"]["files"] == 1
    theirs = await client.get(f"/api/v1/users/{ann['user']['id']}", headers=bearer(bob))
    assert theirs.json()["storage"] is None
    anonymous = await client.get(f"/api/v1/users/{ann['user']['id']}")
    assert anonymous.json()["storage"] is None
