"""The cost of the notifications' reading rule (`SHOWN`, storage/postgres/notifications.py):
the first page of the list and the unread count of one user holding ~1,000 notifications,
with the rule and as they were before it, in one run, under each plan cache mode.

    .venv/bin/python -m bench.notification_reads [--held 1000] [--others 50000] [--reps 200]
        [--out bench/results/FILE.json]

Seeds a throwaway embedded PostgreSQL: the reader follows 40 authors, is a friend of 10 and
blocks 2; their 1,500 blogs are 70% public, 15% followers, 15% friends only, 5% hidden, 3%
drafts. The reader holds `held` notifications (60% about those blogs, 20% likes of their
own blogs, 20% follows and friend requests, 5% of those from a deleted account) of which 30%
are unread; `others` more belong to 2,000 other users. Prints EXPLAIN ANALYZE of each
statement's custom and generic plan once, the median of `reps` timed runs per mode, and a
JSON object on the last line.
Measures; asserts nothing. Figures on a shared machine are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path
from statistics import median

import asyncpg

from nirvana.storage.postgres.notifications import _PAGE, _UNREAD, SHOWN
from nirvana.storage.postgres.pool import migrate

from .embedded import throwaway_stores

AUTHORS = 60


async def seed(pool: asyncpg.Pool, held: int, others: int) -> int:
    rng = random.Random(7)
    n_users = 1 + AUTHORS + 2000
    await pool.execute(
        "INSERT INTO users (email, username, name) SELECT 'u' || i || '@x.example', 'u' || i, "
        "'User ' || i FROM generate_series(1, $1) i", n_users)
    reader, authors = 1, list(range(2, 2 + AUTHORS))
    await pool.executemany("INSERT INTO follows (follower_id, followee_id) VALUES ($1, $2)",
                           [(reader, a) for a in authors[:40]])
    await pool.executemany(
        "INSERT INTO friendships (user_id, friend_id) VALUES ($1, $2), ($2, $1)",
        [(reader, a) for a in authors[40:50]])
    await pool.executemany("INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)",
                           [(reader, a) for a in authors[50:52]])
    blogs = []
    for i in range(1500):
        author = reader if i < 100 else rng.choice(authors)
        audience = rng.choices(["public", "followers", "friends"], [70, 15, 15])[0]
        draft = rng.random() < 0.03
        blogs.append((author, f"Blog {i}", "words", "draft" if draft else "published",
                      None if draft else "2026-12-01", audience, f"blog-{i}",
                      "2026-12-02" if rng.random() < 0.05 else None))
    await pool.executemany(
        "INSERT INTO blogs (author_id, title, body, status, published_at, audience, slug, "
        "hidden_at) VALUES ($1, $2, $3, $4, $5::text::timestamptz, $6, $7, "
        "$8::text::timestamptz)", blogs)
    own = list(range(1, 101))
    theirs = list(range(101, 1501))
    rows = []
    for i in range(held):
        at = f"2026-12-0{1 + i % 6} 10:00:{i % 60:02d}"
        unread = rng.random() < 0.3
        r = rng.random()
        if r < 0.6:
            blog = rng.choice(theirs)
            rows.append((reader, "new_blog", f"blog:{blog}", f"new_blog:{blog}:{i}", blog,
                         at, unread, rng.choice(authors)))
        elif r < 0.8:
            blog = rng.choice(own)
            rows.append((reader, "blog_liked", f"blog:{blog}", f"like:{blog}:{i}", blog, at,
                         unread, rng.choice(authors)))
        else:
            kind = rng.choice(["new_follower", "friend_request"])
            actor = rng.choice(authors) if rng.random() > 0.05 else None
            rows.append((reader, kind, f"user:{i}", f"{kind}:{i}", None, at, unread, actor))
    for i in range(others):
        blog = rng.choice(theirs)
        rows.append((rng.randrange(2 + AUTHORS, n_users + 1), "new_blog", f"blog:{blog}",
                     f"new_blog:{blog}:o{i}", blog, "2026-12-03", rng.random() < 0.3,
                     rng.choice(authors)))
    ids = await pool.fetch(
        """INSERT INTO notifications (recipient_id, kind, subject, group_key, blog_id,
                                     created_at, updated_at, read_at, actor_count)
           SELECT r, k, s, g, b, at::timestamptz, at::timestamptz,
                  CASE WHEN u THEN NULL ELSE at::timestamptz END, (a IS NOT NULL)::int
           FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[],
                       $6::text[], $7::bool[], $8::bigint[]) AS t(r, k, s, g, b, at, u, a)
           RETURNING id""", *[list(c) for c in zip(*rows)])
    await pool.executemany(
        "INSERT INTO notification_actors (notification_id, actor_id, at) "
        "VALUES ($1, $2, now())",
        [(row["id"], r[7]) for row, r in zip(ids, rows) if r[7] is not None])
    await pool.execute("ANALYZE")
    return reader


# Before the rule (main at b4f9be2): the title by a join, no condition.
BEFORE_PAGE = """
    SELECT n.id, n.recipient_id, n.kind, n.blog_id, n.comment_id, n.text, n.actor_count,
           n.conversation_id, n.created_at, n.updated_at, n.read_at, b.title AS blog_title,
           (SELECT coalesce(jsonb_agg(jsonb_build_array(u.id, u.username::text, u.name)
                                      ORDER BY a.at DESC, a.actor_id DESC), '[]')
            FROM (SELECT actor_id, at FROM notification_actors
                  WHERE notification_id = n.id ORDER BY at DESC, actor_id DESC
                  LIMIT 3) a
            JOIN users u ON u.id = a.actor_id) AS actors
    FROM notifications n LEFT JOIN blogs b ON b.id = n.blog_id
    WHERE n.recipient_id = $1 ORDER BY n.updated_at DESC, n.id DESC LIMIT 21"""

STATEMENTS = {
    "page": {"before": BEFORE_PAGE, "rule": _PAGE.format(after="", limit="21")},
    "unread": {
        "before": "SELECT count(*) FROM notifications WHERE recipient_id = $1 "
                  "AND read_at IS NULL",
        "rule": "SELECT count(*) FROM notifications n WHERE n.recipient_id = $1 "
                f"AND n.read_at IS NULL AND {SHOWN}",
        # What the store asks now: the rule's count stopped at UNREAD_COUNTED.
        "bounded": _UNREAD.format(recipient="$1")},
    # What a new blog's fan-out asks per batch of 1,000 followers (`unread_counts`).
    "counts_1000": {
        "before": "SELECT recipient_id, count(*) AS n FROM notifications "
                  "WHERE recipient_id = ANY($1::bigint[]) AND read_at IS NULL "
                  "GROUP BY recipient_id",
        "rule": "SELECT n.recipient_id, count(*) AS n FROM notifications n "
                f"WHERE n.recipient_id = ANY($1::bigint[]) AND n.read_at IS NULL AND {SHOWN} "
                "GROUP BY n.recipient_id",
        "bounded": f"SELECT r.id, ({_UNREAD.format(recipient='r.id')}) AS n "
                   "FROM unnest($1::bigint[]) AS r(id)"},
}
# The fan-out's batch: 1,000 of the other users (each holds ~25, a third unread).
BATCH = list(range(2 + AUTHORS, 2 + AUTHORS + 1000))
# `auto` is what the app gets (asyncpg prepares every statement; PostgreSQL may switch to a
# generic plan after five runs); the forced modes show both plans.
MODES = ("auto", "force_custom_plan", "force_generic_plan")


async def measure(conn: asyncpg.Connection, reader: int, reps: int) -> dict:
    out: dict = {}
    for mode in MODES:
        await conn.execute(f"SET plan_cache_mode = {mode}")
        for name, variants in STATEMENTS.items():
            arg = BATCH if name == "counts_1000" else reader
            for label, sql in variants.items():
                if mode != "auto":
                    q = f"q_{mode[6:9]}_{name}_{label}"
                    kind = "bigint[]" if name == "counts_1000" else "bigint"
                    await conn.execute(f"PREPARE {q}({kind}) AS {sql}")
                    literal = ("'{" + ",".join(map(str, arg)) + "}'" if isinstance(arg, list)
                               else str(arg))
                    plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE {q}({literal})")
                    print(f"--- {name} {label} {mode}\n" + "\n".join(r[0] for r in plan))
                result = await conn.fetch(sql, arg)
                out[f"{name}_{label}_rows"] = (result[0][0] if name == "unread"
                                               else len(result))
            times: dict[str, list[float]] = {label: [] for label in variants}
            for _ in range(reps):  # alternating, so drift hits both alike
                for label, sql in variants.items():
                    start = time.perf_counter()
                    await conn.fetch(sql, arg)
                    times[label].append((time.perf_counter() - start) * 1000)
            for label in variants:
                out[f"{name}_{label}_{mode}_ms_median"] = round(median(times[label]), 3)
    return out


async def main(args: argparse.Namespace) -> dict:
    with throwaway_stores("notification-reads", postgres=True) as stores:
        pool = await asyncpg.create_pool(stores.database_url, min_size=1, max_size=2)
        try:
            await migrate(pool)
            reader = await seed(pool, args.held, args.others)
            async with pool.acquire() as conn:
                result = {"held": args.held, "others": args.others, "reps": args.reps,
                          **await measure(conn, reader, args.reps)}
        finally:
            await pool.close()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--held", type=int, default=1000)
    parser.add_argument("--others", type=int, default=50000)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(main(args))
    line = json.dumps(result)
    print(line)
    if args.out is not None:
        args.out.write_text(line + "\n")
