"""The seeding command, on a small count against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import random

from nirvana.seed import SEED_PASSWORD, main, seed
from tests.support.pg_races import WAIT, deadlock_victims_pool, waiting_on_locks


async def test_seed_fills_users_locations_blogs_with_exact_counters(client, services):
    report = await seed(services.pool, users=8, blogs=60, rng=random.Random(7), batch=25)
    assert (report.users, report.blogs) == (8, 60)
    pool = services.pool
    assert await pool.fetchval("SELECT count(*) FROM blogs") == 60
    assert await pool.fetchval("SELECT count(*) FROM locations") > 10
    published = await pool.fetchval(
        "SELECT count(*) FROM blogs WHERE status = 'published' AND audience = 'public' "
        "AND hidden_at IS NULL")
    # The maintained counters agree with a real count (anonymous: public blogs only).
    page = (await client.get("/api/v1/blog/paginated_bulk", params={"limit": 7})).json()
    assert page["total"] == published and page["totalPages"] == -(-published // 7)
    assert await pool.fetchval(
        "SELECT count(*) FROM blogs b WHERE likes_count <> "
        "(SELECT count(*) FROM blog_reactions l WHERE l.blog_id = b.id AND l.kind = 'like') "
        "OR comments_count <> "
        "(SELECT count(*) FROM blog_comments c WHERE c.blog_id = b.id)") == 0
    assert await pool.fetchval("SELECT count(*) FROM blog_reactions") == report.likes
    # Seeded users can sign in and read their feed.
    email = await pool.fetchval("SELECT email::text FROM users ORDER BY id LIMIT 1")
    r = await client.post("/api/v1/user/signin", json={"email": email, "password": SEED_PASSWORD})
    assert r.status_code == 200
    r = await client.get("/api/v1/feed", params={"following": "true"},
                         headers={"Authorization": f"Bearer {r.json()['jwt']}"})
    assert r.status_code == 200 and r.json()["blogs"]


def test_seed_command_runs_against_database_url(server_urls, capsys):
    database_url, _ = server_urls
    code = main(["--users", "3", "--blogs", "5", "--seed", "1"],
                environ={"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"})
    assert code == 0
    assert "Seeded 3 users, 5 blogs" in capsys.readouterr().out


async def test_a_seed_batch_ended_by_a_deadlock_goes_again(services, server_urls, caplog):
    """A batch holds the blogs it copied and waits on blog_reactions, which another
    transaction holds and then wants blogs: PostgreSQL ends the batch (it checks first), which
    goes again once the other has committed. Table locks stand in for a live create's slug
    claims (test_blog_slugs.py): what matters is the cycle, not which rows close it."""
    caplog.set_level(logging.WARNING, "nirvana.storage")
    async with deadlock_victims_pool(server_urls[0]) as victims, \
            services.pool.acquire() as other:
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SET LOCAL deadlock_timeout = '60s'")
        await other.execute("LOCK TABLE blog_reactions IN SHARE MODE")
        seeding = asyncio.create_task(
            seed(victims, users=4, blogs=10, rng=random.Random(3), batch=10))
        await waiting_on_locks(services.pool, seeding, other.get_server_pid())
        await asyncio.wait_for(other.execute("LOCK TABLE blogs IN SHARE MODE"), WAIT)
        await transaction.commit()
        report = await asyncio.wait_for(seeding, WAIT)
    assert "seed batch of blogs 1-10 deadlocked; retrying once" in caplog.text
    assert await services.pool.fetchval("SELECT count(*) FROM blogs") == report.blogs == 10
    assert await services.pool.fetchval("SELECT count(*) FROM blog_reactions") == report.likes
    assert await services.pool.fetchval("SELECT count(*) FROM blog_comments") == report.comments
