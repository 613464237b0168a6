"""Idempotency-Key on the creating POSTs, against the real PostgreSQL: a retry of a create
whose answer was lost answers the row already stored, never a second copy."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from nirvana.domain.blogs.model import BlogFields, BlogStatus
from nirvana.domain.idempotency import IdempotencyKey
from nirvana.storage.postgres.blogs import PgBlogRepository
from tests.support.http import bearer, sign_up
from tests.support.pg_log import server_log
from tests.support.pg_races import behind_uncommitted

BLOG = {"title": "Once only", "body": "Stored once"}


def keyed(session: dict, key: str) -> dict[str, str]:
    return {**bearer(session), "Idempotency-Key": key}


async def count(services, table: str, author_id: int) -> int:
    return await services.pool.fetchval(
        f"SELECT count(*) FROM {table} WHERE author_id = $1", author_id)


async def a_blog(client, session) -> dict:
    r = await client.post("/api/v1/blog", json=BLOG, headers=bearer(session))
    assert r.status_code == 201, r.text
    return r.json()


# (table, the route's path for a blog, the body it takes)
ROUTES = {"blog": ("blogs", lambda blog: "/api/v1/blog", BLOG),
          "comment": ("blog_comments", lambda blog: f"/api/v1/blog/{blog['id']}/comments",
                      {"body": "Nice one"})}


@dataclass
class Poster:
    """One route's create, for a user just signed up with a blog of their own."""

    client: httpx.AsyncClient
    services: Any
    table: str
    path: str
    body: dict
    session: dict
    before: int  # the rows of theirs the route's table held before any post

    async def post(self, key: str | bytes | None = None, body: dict | None = None,
                   session: dict | None = None) -> httpx.Response:
        headers = [*bearer(session or self.session).items()]
        if key is not None:
            headers.append(("Idempotency-Key", key))
        return await self.client.post(self.path, json=body or self.body, headers=headers)

    async def added(self) -> int:
        return await count(self.services, self.table, self.session["user"]["id"]) - self.before


@pytest.fixture(params=sorted(ROUTES))
async def poster(request, client, services) -> Poster:
    table, path, body = ROUTES[request.param]
    ann = await sign_up(client)
    blog = await a_blog(client, ann)
    return Poster(client, services, table, path(blog), body, ann,
                  await count(services, table, ann["user"]["id"]))


async def test_the_same_key_twice_stores_one_row_and_replays_it(poster):
    key = str(uuid.uuid4())
    first, again = await poster.post(key), await poster.post(key)
    assert first.status_code == again.status_code == 201, again.text
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert await poster.added() == 1


async def test_the_same_key_with_another_body_is_refused(poster):
    r = await poster.post("k-1")
    assert r.status_code == 201
    r = await poster.post("k-1", body={k: v + " (edited)" for k, v in poster.body.items()})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert await poster.added() == 1


async def test_keys_are_per_user(client, services, poster):
    bob = await sign_up(client)
    a = await poster.post("shared")
    b = await poster.post("shared", session=bob)
    assert a.status_code == b.status_code == 201
    assert "idempotent-replayed" not in b.headers and a.json()["id"] != b.json()["id"]
    assert await count(services, poster.table, bob["user"]["id"]) == 1


async def test_concurrent_twins_store_one_row(poster):
    answers = await asyncio.gather(*(poster.post("twin") for _ in range(6)))
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["id"] for r in answers}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in answers) == 1
    assert await poster.added() == 1


async def test_a_replayed_and_a_doubled_blog_leave_no_error_in_postgresql_log(client,
                                                                               services):
    # Operators alert on ERROR lines: a retry is expected traffic, not an error.
    ann = await sign_up(client)
    async with server_log(services.pool) as logged:
        first = await client.post("/api/v1/blog", json=BLOG, headers=keyed(ann, "replayed"))
        again = await client.post("/api/v1/blog", json=BLOG, headers=keyed(ann, "replayed"))
        twins = await asyncio.gather(*(client.post("/api/v1/blog", json=BLOG,
                                                   headers=keyed(ann, "doubled"))
                                       for _ in range(2)))
    assert {r.status_code for r in [first, again, *twins]} == {201}
    assert again.json()["id"] == first.json()["id"]
    assert twins[0].json()["id"] == twins[1].json()["id"]
    assert await count(services, "blogs", ann["user"]["id"]) == 2
    assert [line for line in logged if "ERROR" in line] == []


async def test_a_twin_from_an_instance_without_the_key_lock_is_answered(client, services):
    # During a rolling deploy an older instance inserts a keyed blog without the advisory
    # lock (in a savepoint); this create's lookup misses it uncommitted, its insert waits on
    # the key and then meets it: it answers that blog, not the unique violation.
    ann = await sign_up(client)
    author = ann["user"]["id"]
    older = ("INSERT INTO blogs (author_id, title, body, summary, status, created_at,"
             " updated_at, slug, audience, idempotency_key, idempotency_fingerprint)"
             " VALUES ($1, 'T', 'B', '', 'draft', now(), now(), 'older', 'public', 'k', 'f')",
             author)
    fields = BlogFields(title="T", body="B", summary="", header_image=None, images=(),
                        tags=(), place=None, status=BlogStatus.DRAFT)
    blog, stored = await behind_uncommitted(services.pool, [older], PgBlogRepository(
        services.pool).create(author, fields, datetime.now(timezone.utc), None, "newer",
                              IdempotencyKey("k", "f")))
    assert not stored
    assert blog.id == await services.pool.fetchval(
        "SELECT id FROM blogs WHERE author_id = $1 AND slug = 'older'", author)
    assert await count(services, "blogs", author) == 1


async def test_without_a_key_each_post_stores_a_row(poster):
    first, again = await poster.post(), await poster.post()
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] != again.json()["id"]
    assert await poster.added() == 2


@pytest.mark.parametrize("key", ["", "x" * 65, "has space", "ünïcode".encode()])
async def test_a_bad_key_is_refused_before_anything_is_stored(poster, key):
    r = await poster.post(key)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "invalid_idempotency_key"
    assert await poster.added() == 0


async def test_a_deleted_row_frees_its_key(client, services):
    ann = await sign_up(client)
    first = await client.post("/api/v1/blog", json=BLOG, headers=keyed(ann, "gone"))
    r = await client.delete(f"/api/v1/blog/{first.json()['id']}", headers=bearer(ann))
    assert r.status_code == 204
    again = await client.post("/api/v1/blog", json=BLOG, headers=keyed(ann, "gone"))
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]


async def test_openapi_declares_the_key_the_replay_header_and_the_refusal(client):
    spec = (await client.get("/openapi.json")).json()
    for path in ("/api/v1/blog", "/api/v1/blog/{id}/comments"):
        op = spec["paths"][path]["post"]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header"
                   for p in op["parameters"])
        assert "Idempotent-Replayed" in op["responses"]["201"]["headers"]
        assert "409" in op["responses"] and "400" in op["responses"]
    other = spec["paths"]["/api/v1/reports"]["post"]
    assert all(p["name"] != "Idempotency-Key" for p in other.get("parameters", []))


async def test_a_retried_report_needs_no_key_it_joins_its_case_once(client, services):
    ann, bob = await sign_up(client), await sign_up(client)
    blog = await a_blog(client, ann)
    report = {"target": {"kind": "blog", "id": blog["id"]}, "reason": "spam"}
    first = await client.post("/api/v1/reports", json=report, headers=bearer(bob))
    again = await client.post("/api/v1/reports", json=report, headers=bearer(bob))
    assert first.status_code == again.status_code == 201, again.text
    assert first.json() == again.json()
    assert await services.pool.fetchval(
        "SELECT count(*) FROM reports WHERE reporter_id = $1", bob["user"]["id"]) == 1


async def test_a_quoted_key_is_the_same_key_as_the_bare_one(poster):
    # The IETF draft sends the key as a Structured-Field String: `"k"`.
    key = str(uuid.uuid4())
    first, again = await poster.post(f'"{key}"'), await poster.post(key)
    assert first.status_code == again.status_code == 201, first.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert await poster.added() == 1


async def test_the_same_key_on_another_blog_is_refused(client, services):
    ann, bob = await sign_up(client), await sign_up(client)
    one, two = await a_blog(client, ann), await a_blog(client, ann)
    body = {"body": "Nice one"}
    r = await client.post(f"/api/v1/blog/{one['id']}/comments", json=body,
                          headers=keyed(bob, "c-1"))
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/blog/{two['id']}/comments", json=body,
                          headers=keyed(bob, "c-1"))
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert await count(services, "blog_comments", bob["user"]["id"]) == 1


async def test_a_replayed_comment_notifies_the_author_once(client):
    # Fails if the replay stores a second comment; a re-sent event for the same comment
    # is also absorbed by the notification's subject key, so the `created` flag itself is
    # checked in tests/unit/test_blog_idempotency.py.
    ann, bob = await sign_up(client, name="Ann"), await sign_up(client, name="Bob")
    blog = await a_blog(client, ann)
    for _ in range(2):
        r = await client.post(f"/api/v1/blog/{blog['id']}/comments", json={"body": "Hi"},
                              headers=keyed(bob, "hello"))
        assert r.status_code == 201, r.text
    assert r.headers["idempotent-replayed"] == "true"
    items = (await client.get("/api/v1/notifications", headers=bearer(ann))).json()["items"]
    assert len(items) == 1, items


async def test_a_comment_replay_on_a_blog_blocked_since_is_not_found(client):
    # A replay tells no more than reading the blog: blocked, the blog does not exist, so
    # the replay must not answer 201 and reveal that it (and the comment) still does.
    ann, bob = await sign_up(client), await sign_up(client)
    blog = await a_blog(client, ann)
    path = f"/api/v1/blog/{blog['id']}/comments"
    r = await client.post(path, json={"body": "Hi"}, headers=keyed(bob, "k1"))
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/blocks/{bob['user']['id']}", headers=bearer(ann))
    assert r.status_code in (200, 201, 204), r.text
    fresh = await client.post(path, json={"body": "Hi"}, headers=keyed(bob, "k2"))
    replay = await client.post(path, json={"body": "Hi"}, headers=keyed(bob, "k1"))
    assert fresh.status_code == replay.status_code == 404, replay.text
    assert replay.json()["error"]["code"] == fresh.json()["error"]["code"] == "blog_not_found"
    assert "idempotent-replayed" not in replay.headers
