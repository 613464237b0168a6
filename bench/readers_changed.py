"""What telling a blog's readers costs when it is hidden or its audience changes
(`Notifications._readers_changed`, domain/notifications/service.py): who holds an unread
notification of it (`unread_about_blog`), then one count per batch of 1,000 of them
(`unread_counts`), against a real PostgreSQL. It runs in a background task after the hide's
or the PUT's answer; this is the work that left the request.

    .venv/bin/python -m bench.readers_changed [--holders 10000] [--reps 5]
        [--out bench/results/FILE.json]

Seeds a throwaway embedded PostgreSQL: one public blog whose `holders` readers each hold its
unread new_blog notification and 20 more (a third unread) about 200 other blogs. Times the
fan-out's store calls with the blog hidden; sends no frame. Measures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from statistics import median

import asyncpg

from nirvana.domain.notifications.service import FAN_OUT_BATCH
from nirvana.storage.postgres.notifications import PgNotificationStore
from nirvana.storage.postgres.pool import migrate

from .embedded import throwaway_stores


async def seed(pool: asyncpg.Pool, holders: int) -> None:
    await pool.execute(
        "INSERT INTO users (email, username, name) SELECT 'u' || i || '@x.example', 'u' || i, "
        "'User ' || i FROM generate_series(1, $1 + 1) i", holders)
    await pool.execute(
        "INSERT INTO blogs (author_id, title, body, status, published_at, audience, slug) "
        "SELECT 1, 'Blog ' || i, 'words', 'published', now(), 'public', 'blog-' || i "
        "FROM generate_series(1, 201) i")
    await pool.execute(
        """INSERT INTO notifications (recipient_id, kind, subject, group_key, blog_id,
                                      created_at, updated_at, read_at)
           SELECT u, 'new_blog', 'blog:' || b, 'new_blog:' || b, b, now(), now(),
                  CASE WHEN b > 1 AND (u + b) % 3 > 0 THEN now() END
           FROM generate_series(2, $1 + 1) u,
                LATERAL (SELECT 1 AS b UNION ALL
                         SELECT 2 + (u * 7 + k * 13) % 200 FROM generate_series(1, 20) k) x
           ON CONFLICT DO NOTHING""", holders)
    await pool.execute("UPDATE blogs SET hidden_at = now() WHERE id = 1")
    await pool.execute("VACUUM ANALYZE")


async def main(args: argparse.Namespace) -> dict:
    with throwaway_stores("readers-changed", postgres=True) as stores:
        pool = await asyncpg.create_pool(stores.database_url, min_size=1, max_size=2)
        try:
            await migrate(pool)
            await seed(pool, args.holders)
            store = PgNotificationStore(pool)
            find, count, total = [], [], []
            for _ in range(args.reps):
                start = time.perf_counter()
                holders = await store.unread_about_blog(1)
                found = time.perf_counter()
                for i in range(0, len(holders), FAN_OUT_BATCH):
                    await store.unread_counts(holders[i:i + FAN_OUT_BATCH])
                end = time.perf_counter()
                find.append((found - start) * 1000)
                count.append((end - found) * 1000)
                total.append((end - start) * 1000)
        finally:
            await pool.close()
    return {"holders": args.holders, "found": len(holders), "reps": args.reps,
            "unread_about_blog_ms_median": round(median(find), 1),
            "unread_counts_all_batches_ms_median": round(median(count), 1),
            "total_ms_median": round(median(total), 1)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--holders", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(main(args))
    line = json.dumps(result)
    print(line)
    if args.out is not None:
        args.out.write_text(line + "\n")
