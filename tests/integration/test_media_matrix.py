"""The authorization matrix of the media routes: what the owner of an upload, another user,
a deleted account and an anonymous caller each get.

Uploading, usage and the list act on the caller's own account, named by the token; only the
owner deletes an upload (anyone else is told, as for an unknown name, that there is none); a
stored file is public to whoever has its unguessable URL (it is what a blog or a chat shows);
the storage on a profile is its owner's alone."""

from __future__ import annotations

import pytest

from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.images import png
from tests.support.media_files import pdf

CALLERS = ("owner", "other", "deleted", "anonymous")
SIGNED_OUT = {"deleted": 401, "anonymous": 401}

MATRIX = {
    "media_upload": {"owner": 201, "other": 201, **SIGNED_OUT},
    "image_upload": {"owner": 201, "other": 201, **SIGNED_OUT},
    "media_usage": {"owner": 200, "other": 200, **SIGNED_OUT},
    "media_list": {"owner": 200, "other": 200, **SIGNED_OUT},
    "media_delete": {"owner": 204, "other": 404, **SIGNED_OUT},
    "media_file": {"owner": 200, "other": 200, "deleted": 200, "anonymous": 200},
    # Profiles are public; a token of a deleted account is refused rather than ignored.
    "owner_profile": {"owner": 200, "other": 200, "deleted": 401, "anonymous": 200},
}


async def world(client) -> dict:
    owner, other, deleted = await sign_up(client), await sign_up(client), await sign_up(client)
    r = await client.post("/api/v1/media/upload", headers=bearer(owner),
                          files={"file": ("a.pdf", pdf(), "application/pdf")})
    assert r.status_code == 201, r.text
    r2 = await client.request("DELETE", "/api/v1/user/me", headers=bearer(deleted),
                              json={"password": PASSWORD})
    assert r2.status_code == 204, r2.text
    return {"sessions": {"owner": owner, "other": other, "deleted": deleted, "anonymous": None},
            "file": r.json()["url"], "name": r.json()["name"], "owner_id": owner["user"]["id"]}


async def call(client, route: str, caller: str, w: dict):
    session = w["sessions"][caller]
    headers = bearer(session) if session else {}
    match route:
        case "media_upload":
            return await client.post("/api/v1/media/upload", headers=headers,
                                     files={"file": ("b.pdf", pdf(), "application/pdf")})
        case "image_upload":
            return await client.post("/api/v1/image/upload", headers=headers,
                                     files={"file": ("b.png", png(), "image/png")})
        case "media_usage":
            return await client.get("/api/v1/media/usage", headers=headers)
        case "media_list":
            return await client.get("/api/v1/media", headers=headers)
        case "media_delete":
            return await client.delete(f"/api/v1/media/{w['name']}", headers=headers)
        case "media_file":
            return await client.get(w["file"], headers=headers)
        case _:
            return await client.get(f"/api/v1/users/{w['owner_id']}", headers=headers)


@pytest.mark.parametrize("route", list(MATRIX))
async def test_who_may_call_each_media_route(client, route):
    w = await world(client)
    got = {}
    # The owner last: the others try the upload while it still exists.
    for caller in sorted(CALLERS, key=lambda c: c == "owner"):
        r = await call(client, route, caller, w)
        got[caller] = r.status_code
        if r.status_code >= 400:
            assert set(r.json()["error"]) >= {"code", "message"}
        elif route == "media_usage":  # each caller sees only their own usage
            assert (r.json()["files"] > 0) is (caller == "owner"), (caller, r.json())
        elif route == "media_list":  # and only their own uploads
            urls = [i["url"] for i in r.json()["items"]]
            assert (w["file"] in urls) is (caller == "owner"), (caller, urls)
        elif route == "owner_profile":  # and only the owner sees the profile's storage
            assert (r.json()["storage"] is not None) is (caller == "owner"), (caller, r.json())
    assert got == MATRIX[route]
