"""How long schema step 0030 (`notifications_blog_idx`, schema.sql) takes to build on a table
of `rows` notifications, as an upgrade's start builds it: a plain CREATE INDEX, writes to the
table blocked meanwhile (docs/operations.md, schema steps at start).

    .venv/bin/python -m bench.notification_index_build [--rows 1000000] [--reps 3]
        [--out bench/results/FILE.json]

Seeds a throwaway embedded PostgreSQL with 2,000 users, 20,000 blogs and `rows`
notifications, 60% of them about a blog; drops the index, then times its build `reps` times.
Measures; asserts nothing. Figures on a shared machine are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from pathlib import Path
from statistics import median

import asyncpg

from nirvana.storage.postgres.pool import migrate

from .embedded import throwaway_stores

SCHEMA = Path(__file__).resolve().parent.parent / "schema.sql"


def step_0030() -> str:
    """The step's statement, as schema.sql has it."""
    text = SCHEMA.read_text()
    return re.search(r"CREATE INDEX notifications_blog_idx[^;]*;",
                     text[text.index("-- migration: 0030"):]).group(0)


async def seed(pool: asyncpg.Pool, rows: int) -> None:
    await pool.execute(
        "INSERT INTO users (email, username, name) SELECT 'u' || i || '@x.example', 'u' || i, "
        "'User ' || i FROM generate_series(1, 2000) i")
    await pool.execute(
        "INSERT INTO blogs (author_id, title, body, status, published_at, audience, slug) "
        "SELECT 1 + i % 2000, 'Blog ' || i, 'words', 'published', now(), 'public', "
        "'blog-' || i FROM generate_series(1, 20000) i")
    await pool.execute(
        """INSERT INTO notifications (recipient_id, kind, subject, group_key, blog_id,
                                      created_at, updated_at, read_at)
           SELECT 1 + i % 2000, 'new_blog', 'blog:' || i, 'new_blog:' || i,
                  CASE WHEN i % 10 < 6 THEN 1 + i % 20000 END, now(), now(),
                  CASE WHEN i % 3 > 0 THEN now() END
           FROM generate_series(1, $1) i""", rows)
    await pool.execute("VACUUM ANALYZE notifications")


async def main(args: argparse.Namespace) -> dict:
    statement = step_0030()
    with throwaway_stores("notification-index", postgres=True) as stores:
        pool = await asyncpg.create_pool(stores.database_url, min_size=1, max_size=2)
        try:
            await migrate(pool)
            await seed(pool, args.rows)
            times = []
            for _ in range(args.reps):
                await pool.execute("DROP INDEX notifications_blog_idx")
                start = time.perf_counter()
                await pool.execute(statement)
                times.append((time.perf_counter() - start) * 1000)
            size = await pool.fetchval(
                "SELECT pg_size_pretty(pg_relation_size('notifications_blog_idx'))")
        finally:
            await pool.close()
    return {"rows": args.rows, "reps": args.reps, "build_ms": [round(t) for t in times],
            "build_ms_median": round(median(times)), "index_size": size,
            "statement": statement}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(main(args))
    line = json.dumps(result)
    print(line)
    if args.out is not None:
        args.out.write_text(line + "\n")
