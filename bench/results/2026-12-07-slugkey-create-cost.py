"""Time PgBlogRepository.create of the tree named by argv[1] on a fresh embedded PostgreSQL:
without a key, with a new key, and a replay of a stored key (ms per call, median of rounds).

    flock -o /tmp/bench.lock .venv/bin/python bench/results/2026-12-07-slugkey-create-cost.py TREE 7
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
ROUNDS, PER_ROUND = int(sys.argv[2]) if len(sys.argv) > 2 else 7, 300

from nirvana.domain.blogs.model import BlogFields, BlogStatus  # noqa: E402
from nirvana.domain.idempotency import IdempotencyKey  # noqa: E402
from nirvana.storage.embedded import EmbeddedPostgres  # noqa: E402
from nirvana.storage.postgres.blogs import PgBlogRepository  # noqa: E402
from nirvana.storage.postgres.pool import create_pool, migrate  # noqa: E402

FIELDS = BlogFields(title="Once only", body="Stored once", summary="", header_image=None,
                    images=(), tags=(), place=None, status=BlogStatus.DRAFT)


async def main() -> None:
    import nirvana
    print("tree", Path(nirvana.__file__).parent.parent, flush=True)
    root = Path(tempfile.mkdtemp(prefix="slugkey-cost-", dir="/tmp"))
    pg = EmbeddedPostgres(root / "pg")
    url = pg.start()
    try:
        pool = await create_pool(url, timeout=10)
        await migrate(pool)
        author = await pool.fetchval(
            "INSERT INTO users (email, username, name) VALUES ('a@x', 'a', 'A') RETURNING id")
        blogs = PgBlogRepository(pool)
        now = datetime.now(timezone.utc)
        n = 0

        # A slug of its own per create: a repeated one walks its taken variants (step 0007).
        async def keyless() -> None:
            nonlocal n
            n += 1
            await blogs.create(author, FIELDS, now, None, f"s-{n}")

        async def new_key() -> None:
            nonlocal n
            n += 1
            await blogs.create(author, FIELDS, now, None, f"s-{n}",
                               IdempotencyKey(f"k{n}", "f"))

        async def replay() -> None:
            nonlocal n
            n += 1
            _, created = await blogs.create(author, FIELDS, now, None, f"s-{n}",
                                            IdempotencyKey("replayed", "f"))
            assert not created

        await blogs.create(author, FIELDS, now, None, "s-0", IdempotencyKey("replayed", "f"))
        cases = {"no key": keyless, "new key": new_key, "replay": replay}
        for case in cases.values():  # warm the prepared statements
            for _ in range(20):
                await case()
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(ROUNDS):
            for name, case in cases.items():
                t0 = time.perf_counter()
                for _ in range(PER_ROUND):
                    await case()
                times[name].append((time.perf_counter() - t0) / PER_ROUND * 1000)
        for name, ms in times.items():
            print(f"{name:8} median {statistics.median(ms):.3f} ms/create "
                  f"(rounds {min(ms):.3f}..{max(ms):.3f})", flush=True)
        await pool.close()
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


asyncio.run(main())
