"""Slugs over HTTP and in the real PostgreSQL: unique, readable, and old ones still resolve."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import pytest

from nirvana.domain.blogs.model import BlogFields, BlogStatus
from nirvana.storage.postgres.blogs import PgBlogRepository
from nirvana.storage.postgres.pool import SCHEMA_PATH, migrate
from tests.support.blogs import edit, post
from tests.support.http import bearer, sign_up
from tests.support.pg_races import WAIT, deadlock_victims_pool, waiting_on_locks


async def test_a_blog_is_served_at_its_slug(client):
    ann = await sign_up(client)
    blog = await post(client, ann, "Crème brûlée à Zürich")
    assert blog["slug"] == "creme-brulee-a-zurich"
    r = await client.get("/api/v1/blog/slug/creme-brulee-a-zurich")
    assert r.status_code == 200 and r.json() == blog
    russian = await post(client, ann, "Привет, мир!")
    r = await client.get("/api/v1/blog/slug/привет-мир")
    assert r.status_code == 200 and r.json()["id"] == russian["id"]
    r = await client.get("/api/v1/blog/slug/no-such-blog")
    assert r.status_code == 404 and r.json()["error"]["code"] == "blog_not_found"


async def test_the_same_title_gets_distinct_slugs_even_when_posted_at_once(client):
    authors = [await sign_up(client) for _ in range(3)]
    made = await asyncio.gather(*(post(client, a, "Hello world") for a in authors for _ in
                                  range(3)))
    slugs = sorted(b["slug"] for b in made)
    assert slugs == sorted(["hello-world"] + [f"hello-world-{n}" for n in range(2, 10)])


async def test_numbered_variants_step_over_slugs_held_by_literal_titles(client):
    # "Hello 3" holds hello-3 by its own title: the third "Hello" must not get it.
    ann, bob = await sign_up(client), await sign_up(client)
    got = [(await post(client, ann, "Hello 3"))["slug"]]
    got += [(await post(client, bob, "Hello"))["slug"] for _ in range(4)]
    got.append((await post(client, ann, "Hello 6"))["slug"])
    got.append((await post(client, bob, "Hello"))["slug"])
    got.append((await post(client, ann, "Hello 7"))["slug"])
    assert got == ["hello-3", "hello", "hello-2", "hello-4", "hello-5", "hello-6", "hello-7",
                   "hello-7-2"]
    # Both kinds at once, from several authors: all distinct, all of the expected forms.
    authors = [await sign_up(client) for _ in range(4)]
    made = await asyncio.gather(*(post(client, a, t) for a in authors
                                  for t in ("Hello", "Hello 9", "Hello", "Hello 10")))
    slugs = [b["slug"] for b in made] + got
    assert len(set(slugs)) == len(slugs)
    for blog in made:
        base = "hello" if blog["title"] == "Hello" else blog["title"].lower().replace(" ", "-")
        suffix = blog["slug"].removeprefix(base)
        assert suffix == "" or (suffix.startswith("-") and suffix[1:].isdigit()), blog["slug"]
    for slug in slugs:
        r = await client.get(f"/api/v1/blog/slug/{slug}")
        assert r.status_code == 200 and r.json()["slug"] == slug


async def test_after_deletions_no_held_or_old_slug_is_given_again(client):
    ann, bob = await sign_up(client), await sign_up(client)
    first, second, third = [await post(client, ann, "Hello") for _ in range(3)]
    moved = await edit(client, ann, second, title="Elsewhere")
    assert moved["slug"] == "elsewhere"
    r = await client.delete(f"/api/v1/blog/{third['id']}", headers=bearer(ann))
    assert r.status_code in (200, 204), r.text
    # hello is held, hello-2 is an old slug of a live blog, hello-3 died with its blog: a
    # number once given is not given again.
    assert (await post(client, bob, "Hello"))["slug"] == "hello-4"
    r = await client.get("/api/v1/blog/slug/hello-2")
    assert r.status_code == 200 and r.json()["id"] == second["id"]
    # Given its old title again, the blog takes back the slug it held for it.
    assert (await edit(client, ann, moved, title="Hello!"))["slug"] == "hello-2"
    # A deleted blog's slugs are free: a literal title may take one.
    assert (await post(client, bob, "Hello 3"))["slug"] == "hello-3"
    assert (await post(client, bob, "Hello"))["slug"] == "hello-5"
    assert first["slug"] == "hello"
    # A slug held by its own literal title is not taken back for the base title.
    dated = await post(client, ann, "Hello 2024")
    assert (await edit(client, ann, dated, title="Hello"))["slug"] == "hello-6"
    # Nor one that only starts like it.
    worded = await post(client, ann, "Hello world")
    assert (await edit(client, ann, worded, title="Hello"))["slug"] == "hello-7"
    # Nor a number the counter never writes (1, a leading zero).
    for title, slug in (("Hello 1", "hello-8"), ("Hello 05", "hello-9")):
        literal = await post(client, ann, title)
        assert (await edit(client, ann, literal, title="Hello"))["slug"] == slug


@pytest.mark.parametrize("writing", ["create", "edit"])
async def test_a_claim_ended_by_a_deadlock_with_a_batch_of_claims_goes_again(
        client, stores, server_urls, caplog, writing):
    """A transaction claiming several slugs (a seed batch) holds dd-3 by a literal title; a
    live claim of Dd bumps Dd's counter and waits on dd-3; the batch's next Dd waits on that
    counter. PostgreSQL ends the live claim, which goes again behind the batch."""
    pool, _ = stores
    ann, bob = await sign_up(client), await sign_up(client)
    assert [(await post(client, ann, "Dd"))["slug"] for _ in range(2)] == ["dd", "dd-2"]
    other = await PgBlogRepository(pool).get((await post(client, bob, "Other"))["id"])
    caplog.set_level(logging.WARNING, "nirvana.storage")
    insert = ("INSERT INTO blogs (author_id, title, body, status) "
              "VALUES ($1, $2, 'b', 'draft') RETURNING slug")
    fields = BlogFields(title="Dd", body="b", summary="", header_image=None, images=(),
                        tags=(), place=None, status=BlogStatus.DRAFT)
    now = datetime.now(timezone.utc)
    async with deadlock_victims_pool(server_urls[0]) as victims, pool.acquire() as batch:
        # The live claim (on `victims`) finds the cycle first: the victim.
        blogs = PgBlogRepository(victims)
        transaction = batch.transaction()
        await transaction.start()
        await batch.execute("SET LOCAL deadlock_timeout = '60s'")
        assert await batch.fetchval(insert, ann["user"]["id"], "Dd 3") == "dd-3"
        live = asyncio.create_task(
            blogs.create(bob["user"]["id"], fields, now, None, "dd") if writing == "create"
            else blogs.update(other.id, fields, expected_updated_at=other.updated_at,
                              updated_at=now, published_at=None, slug="dd"))
        await waiting_on_locks(pool, live, batch.get_server_pid())
        assert await asyncio.wait_for(batch.fetchval(insert, ann["user"]["id"], "Dd"),
                                      WAIT) == "dd-4"
        await transaction.commit()
        written = await asyncio.wait_for(live, WAIT)
    blog = written[0] if writing == "create" else written
    assert blog.slug == "dd-5"
    assert "deadlocked; retrying once" in caplog.text


async def test_after_a_title_change_the_old_slug_resolves_to_the_blog(client):
    ann, bob = await sign_up(client), await sign_up(client)
    blog = await post(client, ann, "First title")
    r = await client.put(f"/api/v1/blog/{blog['id']}", headers=bearer(ann),
                         json={"updated_at": blog["updated_at"], "title": "Second title"})
    assert r.status_code == 200 and r.json()["slug"] == "second-title"
    r = await client.get("/api/v1/blog/slug/first-title")
    assert r.status_code == 200 and r.json()["slug"] == "second-title"
    # The old slug is the blog's for good: a new blog with that title gets another one.
    assert (await post(client, bob, "First title"))["slug"] == "first-title-2"


async def test_a_draft_or_blocked_authors_blog_is_not_found_by_slug(client):
    ann, bob = await sign_up(client), await sign_up(client)
    draft = await post(client, ann, "Secret plans", status="draft")
    assert (await client.get(f"/api/v1/blog/slug/{draft['slug']}",
                             headers=bearer(ann))).status_code == 200
    for headers in (bearer(bob), {}):
        r = await client.get(f"/api/v1/blog/slug/{draft['slug']}", headers=headers)
        assert r.status_code == 404
    public = await post(client, ann, "Open plans")
    r = await client.post(f"/api/v1/blocks/{bob['user']['id']}", headers=bearer(ann))
    assert r.status_code in (200, 201, 204), r.text
    r = await client.get(f"/api/v1/blog/slug/{public['slug']}", headers=bearer(bob))
    assert r.status_code == 404


async def test_blogs_copied_in_without_a_slug_get_one(services):
    # The seeder's COPY names no slug: the insert trigger gives the SQL rule's.
    pool = services.pool
    uid = await pool.fetchval(
        "INSERT INTO users (email, username, name) VALUES ('c@example.com', 'copier', 'C') "
        "RETURNING id")
    now = datetime.now(timezone.utc)
    titles = ("Déjà vu", "Déjà vu", "2024", "Привет, мир")
    rows = [(uid, t, "body", "published", now) for t in titles]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "blogs", records=rows,
            columns=["author_id", "title", "body", "status", "published_at"])
    got = [r["slug"] for r in await pool.fetch("SELECT slug FROM blogs ORDER BY id")]
    assert got == ["deja-vu", "deja-vu-2", "post-2024", "привет-мир"]


async def test_the_migration_gives_existing_blogs_slugs(server_urls, tmp_path: Path):
    # A database at the step before slugs, with blogs in it, then upgraded.
    admin = await asyncpg.connect(server_urls[0])
    name = f"slugs_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        pool = await asyncpg.create_pool(server_urls[0], database=name, min_size=1,
                                         max_size=2)
        try:
            text = SCHEMA_PATH.read_text()
            before = tmp_path / "before.sql"
            before.write_text(text[:text.index("-- migration: 0007")])
            await migrate(pool, before)
            uid = await pool.fetchval(
                "INSERT INTO users (email, username, name) VALUES ('m@example.com', 'm', 'M') "
                "RETURNING id")
            for title in ("Ünïcödé title", "Ünïcödé title!", "!!!"):
                await pool.execute(
                    "INSERT INTO blogs (author_id, title, body, status, published_at) "
                    "VALUES ($1, $2, 'b', 'published', now())", uid, title)
            assert 7 in await migrate(pool, SCHEMA_PATH)
            got = [r["slug"] for r in await pool.fetch("SELECT slug FROM blogs ORDER BY id")]
            assert got == ["unicode-title", "unicode-title-2", "post"]
            old = await pool.fetchval("SELECT blog_id FROM blog_slugs WHERE slug = 'post'")
            assert old is not None
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_title_with_many_variants_before_the_upgrade_gets_the_next(server_urls,
                                                                          tmp_path: Path):
    # Variants claimed one by one by step 0007; then the counters' step adds them, empty.
    admin = await asyncpg.connect(server_urls[0])
    name = f"slugs_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        pool = await asyncpg.create_pool(server_urls[0], database=name, min_size=1,
                                         max_size=4)
        try:
            text = SCHEMA_PATH.read_text()
            before = tmp_path / "before.sql"
            step = text.rfind("-- migration:", 0,
                              text.index("the next slug of a title from a counter"))
            before.write_text(text[:step])
            await migrate(pool, before)
            uid = await pool.fetchval(
                "INSERT INTO users (email, username, name) VALUES ('v@example.com', 'v', 'V') "
                "RETURNING id")
            insert = ("INSERT INTO blogs (author_id, title, body, status) "
                      "VALUES ($1, $2, 'b', 'draft') RETURNING slug")
            for _ in range(300):
                await pool.execute(insert, uid, "Hello")
            await pool.execute(insert, uid, "Hello 302")
            gone = await pool.fetchval("SELECT id FROM blogs WHERE slug = 'hello-7'")
            await pool.execute("DELETE FROM blogs WHERE id = $1", gone)
            assert await migrate(pool, SCHEMA_PATH)
            got = [await pool.fetchval(insert, uid, "Hello") for _ in range(3)]
            # The first claim walks to the first free variant after the counter's start,
            # then each goes on from there; hello-302 is a literal title's.
            assert got == ["hello-7", "hello-301", "hello-303"]
            # The counter stands past the walk, so the next claim does not walk again.
            assert await pool.fetchval(
                "SELECT last FROM blog_slug_counters WHERE base = 'hello'") == 303
            got = await asyncio.gather(*(pool.fetchval(insert, uid, "Hello")
                                         for _ in range(8)))
            assert sorted(got) == [f"hello-{n}" for n in range(304, 312)]
            slugs = [r["slug"] for r in await pool.fetch("SELECT slug FROM blog_slugs")]
            assert len(slugs) == 300 - 1 + 1 + 3 + 8 == len(set(slugs))
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
