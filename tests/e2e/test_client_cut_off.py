"""A client that closes its connection before its request body arrived whole (a closed tab,
a lost signal) ends its request quietly: one info line, status 499 in the access log and the
metrics, no error line or 5xx, nothing stored (docs/operations.md, "A client that leaves
mid-body")."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.images import png
from tests.support.people import user
from tests.support.waiting import wait_until

TOKEN = "metrics-token-for-tests-0123456789"
BOUNDARY = "cutoff"
CUT = "request cut off by the client"


@pytest.fixture
def settings(base_settings, tmp_path):
    return replace(base_settings, data_dir=tmp_path, metrics_token=TOKEN)


def multipart(path: str) -> tuple[str, str, str, bytes]:
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + png(
            64, 64) + f"\r\n--{BOUNDARY}--\r\n".encode()
    return path, path, f"multipart/form-data; boundary={BOUNDARY}", body


async def blog_request(http, auth) -> tuple[str, str, str, bytes]:
    body = orjson.dumps({"title": "Never whole", "body": "x" * 4000})
    return "/api/v1/blog", "/api/v1/blog", "application/json", body


async def comment_request(http, auth) -> tuple[str, str, str, bytes]:
    r = await http.post("/api/v1/blog", headers=auth, json={"title": "On", "body": "it"})
    assert r.status_code == 201, r.text
    return (f"/api/v1/blog/{r.json()['id']}/comments", "/api/v1/blog/{id:int}/comments",
            "application/json", orjson.dumps({"body": "y" * 2000}))


async def image_request(http, auth) -> tuple[str, str, str, bytes]:
    return multipart("/api/v1/image/upload")


async def upload_request(http, auth) -> tuple[str, str, str, bytes]:
    return multipart("/api/v1/media/upload")


STORED = ("SELECT (SELECT count(*) FROM blogs), (SELECT count(*) FROM blog_comments), "
          "(SELECT count(*) FROM media_pending), (SELECT count(*) FROM media_uploads), "
          "(SELECT coalesce(sum(used_bytes), 0) FROM media_usage)")


async def statuses(live, route: str) -> dict[str, float]:
    r = await live.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    return {s.labels["status"]: s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples
            if s.name == "nirvana_http_request_seconds_count"
            and s.labels.get("route") == route}


@pytest.mark.parametrize("request_of", [blog_request, comment_request, image_request,
                                        upload_request],
                         ids=["blog", "comment", "image", "upload"])
async def test_a_body_cut_off_by_the_client_is_a_quiet_499_and_stores_nothing(
        live, stores, caplog, request_of):
    caplog.set_level(logging.INFO)
    pool, _ = stores
    who = await user(live.http)
    auth = {"Authorization": f"Bearer {who['jwt']}"}
    path, route, content_type, body = await request_of(live.http, auth)
    stored = tuple(await pool.fetchrow(STORED))
    host, port = live.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write((f"POST {path} HTTP/1.1\r\nHost: x\r\n"
                  f"Authorization: Bearer {who['jwt']}\r\n"
                  f"Content-Type: {content_type}\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:len(body) // 2])
    await writer.drain()
    await wait_until(lambda: live.server.server_state.tasks, "the request to reach the app")
    writer.close()
    await writer.wait_closed()
    await wait_until(lambda: any(r.name == "nirvana.access" and r.path == path
                                 for r in caplog.records), "the request to end")

    cut = [r for r in caplog.records if CUT in r.getMessage()]
    assert [(r.levelno, r.exc_info, r.route) for r in cut] == [(logging.INFO, None, route)]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info
            or "Exception in ASGI" in r.getMessage()] == []
    access = [r for r in caplog.records if r.name == "nirvana.access" and r.path == path]
    assert [r.status for r in access] == [499]
    counted = await statuses(live, route)
    assert counted.get("499") == 1 and not any(s.startswith("5") for s in counted), counted
    # Nothing stored, nothing reserved.
    assert tuple(await pool.fetchrow(STORED)) == stored
    # The server still answers, and the same request sent whole is stored.
    r = await live.http.post(path, headers={**auth, "Content-Type": content_type},
                             content=body)
    assert r.status_code == 201, r.text
