"""Idempotency-Key on the two upload routes, against the real PostgreSQL and the local
disk: a retry answers the upload already stored, with no second row, file or reservation;
its fingerprint covers the file's bytes, its name and the kind asked for."""

from __future__ import annotations

import asyncio

import pytest

from nirvana.domain.uploads import UploadLimits
from tests.support.http import bearer, sign_up
from tests.support.images import png

ROUTES = {"media": "/api/v1/media/upload", "image": "/api/v1/image/upload"}


@pytest.fixture(params=sorted(ROUTES))
def route(request):
    return ROUTES[request.param]


async def post(client, session, path, key=None, data=None, name="pic.png"):
    headers = bearer(session) if key is None else {**bearer(session), "Idempotency-Key": key}
    return await client.post(path, headers=headers,
                             files={"file": (name, data or png(3, 3), "image/png")})


async def stored(client, services, settings, session) -> tuple[int, int, int]:
    """(rows in the ledger, bytes counted against the quota, files on disk)."""
    usage = (await client.get("/api/v1/media/usage", headers=bearer(session))).json()
    on_disk = len(list((settings.data_dir / "media").glob("*")))
    return usage["files"], usage["used_bytes"], on_disk


async def test_the_same_key_twice_stores_one_upload_and_replays_it(client, services, settings,
                                                                   route):
    ann = await sign_up(client)
    first = await post(client, ann, route, "pic-1")
    again = await post(client, ann, route, "pic-1")
    assert first.status_code == again.status_code == 201, again.text
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await stored(client, services, settings, ann) == (1, len(png(3, 3)), 1)


@pytest.mark.parametrize("change", [{"data": png(4, 4)}, {"name": "other.png"}])
async def test_the_same_key_with_another_file_is_refused(client, services, settings, route,
                                                         change):
    ann = await sign_up(client)
    assert (await post(client, ann, route, "k-1")).status_code == 201
    r = await post(client, ann, route, "k-1", **change)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert await stored(client, services, settings, ann) == (1, len(png(3, 3)), 1)


async def test_the_same_key_asking_another_kind_is_refused(client, services, settings):
    ann = await sign_up(client)
    assert (await post(client, ann, ROUTES["media"], "k-2")).status_code == 201
    r = await post(client, ann, ROUTES["media"] + "?kind=image", "k-2")
    assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused"


async def test_concurrent_twins_store_one_upload_and_leave_no_file(client, services, settings,
                                                                   route):
    ann = await sign_up(client)
    answers = await asyncio.gather(*(post(client, ann, route, "twin") for _ in range(6)))
    assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
    assert len({r.json()["url"] for r in answers}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in answers) == 1
    assert await stored(client, services, settings, ann) == (1, len(png(3, 3)), 1)


async def test_a_replay_is_answered_past_a_quota_now_full(client, services, settings):
    ann = await sign_up(client)
    size = len(png(3, 3))
    services.uploads.limits = UploadLimits(quota=size)
    first = await post(client, ann, ROUTES["media"], "full")
    assert (await post(client, ann, ROUTES["media"], data=png(4, 4))).status_code == 413
    again = await post(client, ann, ROUTES["media"], "full")
    assert again.status_code == 201 and again.json() == first.json()


async def test_without_a_key_each_upload_is_stored(client, services, settings, route):
    ann = await sign_up(client)
    first, again = await post(client, ann, route), await post(client, ann, route)
    assert first.status_code == again.status_code == 201
    assert first.json()["url"] != again.json()["url"]
    assert await stored(client, services, settings, ann) == (2, 2 * len(png(3, 3)), 2)


async def test_a_bad_key_is_refused_before_anything_is_stored(client, services, settings,
                                                               route):
    ann = await sign_up(client)
    r = await post(client, ann, route, "has space")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_idempotency_key"
    assert await stored(client, services, settings, ann) == (0, 0, 0)


async def test_a_deleted_upload_frees_its_key(client, services, settings):
    ann = await sign_up(client)
    first = await post(client, ann, ROUTES["media"], "gone")
    r = await client.delete(f"/api/v1/media/{first.json()['name']}", headers=bearer(ann))
    assert r.status_code == 204
    again = await post(client, ann, ROUTES["media"], "gone")
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["url"] != first.json()["url"]


async def test_openapi_names_the_header_on_both_upload_routes(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ROUTES.values():
        post_ = paths[path]["post"]
        assert "Idempotency-Key" in [p["name"] for p in post_.get("parameters", [])]
        assert "Idempotent-Replayed" in post_["responses"]["201"].get("headers", {})
        assert "same bytes, file name" in post_["requestBody"].get("description", "")
