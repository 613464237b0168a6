"""Time PgBlogRepository.create of the tree named by argv[1] for a title whose slug already
has N variants (N = 0, 100, 1,000, 10,000), each N in a scratch database of a fresh embedded
PostgreSQL, filled directly with N blogs holding base, base-2, ..., base-N, then dropped.

Per N: the first create after the fill (on a tree with per-title counters it finds none and
walks the taken variants once, as an upgraded deployment's first claim of each title does),
then the median of CREATES single creates; then 2 and 4 connections creating that title at
once (ms of wall time per create, and a check that every slug given is distinct).

    flock -o /tmp/bench.lock .venv/bin/python bench/results/2026-12-07-slugfast-create-cost.py TREE
"""
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(sys.argv[1]).resolve()))
SIZES, CREATES, PER_CONN = (0, 100, 1000, 10000), 60, 40

import asyncpg  # noqa: E402

from nirvana.domain.blogs.model import BlogFields, BlogStatus  # noqa: E402
from nirvana.storage.embedded import EmbeddedPostgres  # noqa: E402
from nirvana.storage.postgres.blogs import PgBlogRepository  # noqa: E402
from nirvana.storage.postgres.pool import migrate  # noqa: E402

FIELDS = BlogFields(title="Hello", body="b", summary="", header_image=None,
                    images=(), tags=(), place=None, status=BlogStatus.DRAFT)


async def one_size(url: str, n: int) -> None:
    admin = await asyncpg.connect(url)
    name = f"slugfast_{n}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        pool = await asyncpg.create_pool(url, database=name, min_size=1, max_size=4)
        try:
            await migrate(pool)
            author = await pool.fetchval(
                "INSERT INTO users (email, username, name) VALUES ('a@x', 'a', 'A') "
                "RETURNING id")
            # Distinct slugs, so the trigger's claim is one try per row on either tree.
            await pool.execute(
                "INSERT INTO blogs (author_id, title, body, status, slug) "
                "SELECT $1, 'Hello', 'b', 'draft', "
                "       CASE WHEN g = 1 THEN 'hello' ELSE 'hello-' || g END "
                "FROM generate_series(1, $2) g", author, n)
            blogs = PgBlogRepository(pool)
            now = datetime.now(timezone.utc)
            t0 = time.perf_counter()
            first, _ = await blogs.create(author, FIELDS, now, None, "hello")
            first_ms = (time.perf_counter() - t0) * 1000
            times = []
            for _ in range(CREATES):
                t0 = time.perf_counter()
                await blogs.create(author, FIELDS, now, None, "hello")
                times.append((time.perf_counter() - t0) * 1000)
            line = (f"N={n:6}  first {first_ms:8.2f} ms ({first.slug})  "
                    f"then median {statistics.median(times):7.2f} ms "
                    f"(min {min(times):.2f} max {max(times):.2f})")
            for conns in (2, 4):
                cpool = await asyncpg.create_pool(url, database=name, min_size=1, max_size=4)
                crepo = PgBlogRepository(cpool)

                async def worker() -> list[str]:
                    got = []
                    for _ in range(PER_CONN):
                        blog, _ = await crepo.create(author, FIELDS, now, None, "hello")
                        got.append(blog.slug)
                    return got

                t0 = time.perf_counter()
                made = await asyncio.gather(*(worker() for _ in range(conns)))
                wall = (time.perf_counter() - t0) * 1000
                slugs = [s for m in made for s in m]
                assert len(set(slugs)) == len(slugs), "a slug given twice"
                line += f"  | {conns} conns {wall / len(slugs):6.2f} ms/create"
                await cpool.close()
            total = await pool.fetchval("SELECT count(*) FROM blog_slugs")
            distinct = await pool.fetchval("SELECT count(DISTINCT slug) FROM blogs")
            assert total == distinct, (total, distinct)
            print(line, flush=True)
        finally:
            await pool.close()
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def main() -> None:
    import nirvana
    print("tree", Path(nirvana.__file__).parent.parent, flush=True)
    root = Path(tempfile.mkdtemp(prefix="slugfast-cost-", dir="/tmp"))
    pg = EmbeddedPostgres(root / "pg")
    url = pg.start()
    try:
        for n in SIZES:
            await one_size(url, n)
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


asyncio.run(main())
