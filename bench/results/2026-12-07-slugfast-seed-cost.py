"""Time nirvana.seed.seed of the tree named by argv[1]: two runs of BLOGS blogs into one fresh
embedded PostgreSQL (the second meets the first's titles), seconds each, and how many slugs,
counters and distinct slugs the database holds after.

    flock -o /tmp/bench.lock .venv/bin/python bench/results/2026-12-07-slugfast-seed-cost.py TREE [BLOGS]
"""
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(sys.argv[1]).resolve()))
BLOGS = int(sys.argv[2]) if len(sys.argv) > 2 else 20000

from nirvana.seed import seed  # noqa: E402
from nirvana.storage.embedded import EmbeddedPostgres  # noqa: E402
from nirvana.storage.postgres.pool import create_pool, migrate  # noqa: E402


async def main() -> None:
    import nirvana
    print("tree", Path(nirvana.__file__).parent.parent, "blogs per run", BLOGS, flush=True)
    root = Path(tempfile.mkdtemp(prefix="slugfast-seed-", dir="/tmp"))
    pg = EmbeddedPostgres(root / "pg")
    url = pg.start()
    try:
        pool = await create_pool(url, timeout=600, min_size=1, max_size=2)
        await migrate(pool)
        for run in (1, 2):
            t0 = time.perf_counter()
            await seed(pool, users=200, blogs=BLOGS, rng=random.Random(run))
            print(f"run {run}: {time.perf_counter() - t0:.1f} s", flush=True)
        counters = None
        if await pool.fetchval("SELECT to_regclass('blog_slug_counters') IS NOT NULL"):
            counters = await pool.fetchval("SELECT count(*) FROM blog_slug_counters")
            print("bytes: blog_slug_counters", await pool.fetchval(
                      "SELECT pg_total_relation_size('blog_slug_counters')"),
                  "blog_slugs", await pool.fetchval(
                      "SELECT pg_total_relation_size('blog_slugs')"), flush=True)
        print("blog_slugs", await pool.fetchval("SELECT count(*) FROM blog_slugs"),
              "distinct blogs.slug", await pool.fetchval("SELECT count(DISTINCT slug) FROM blogs"),
              "counters", counters, flush=True)
        await pool.close()
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


asyncio.run(main())
