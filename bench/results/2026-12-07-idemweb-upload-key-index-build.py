"""Time schema step 0026 (uploads' idempotency key index) on a big media_uploads table."""
import asyncio, sys, time, tempfile, shutil
from pathlib import Path
import asyncpg
from nirvana.storage.embedded import EmbeddedPostgres
from nirvana.storage.postgres.pool import parse_steps, SCHEMA_PATH

ROWS = int(sys.argv[1]); OWNERS = int(sys.argv[2])

async def main():
    root = Path(tempfile.mkdtemp(prefix="idem-build-", dir="/tmp"))
    pg = EmbeddedPostgres(root / "pg")
    url = pg.start()
    try:
        conn = await asyncpg.connect(url)
        steps = parse_steps(SCHEMA_PATH.read_text())
        for s in steps:
            if s.version < 26:
                await conn.execute(s.sql)
        # Owners need not exist for the scan: foreign keys are off while filling.
        await conn.execute("SET session_replication_role = replica")
        t0 = time.perf_counter()
        await conn.execute(
            "INSERT INTO media_uploads (url, owner_id, kind, mime, size, created_at, original_name) "
            "SELECT '/media/' || md5(g::text) || '.webp', (g % $1) + 1, 'image', 'image/webp', "
            "100000 + g % 900000, now() - g * interval '1 second', 'photo-' || g || '.jpg' "
            "FROM generate_series(1, $2) g", OWNERS, ROWS)
        await conn.execute("VACUUM ANALYZE media_uploads")
        print(f"filled media_uploads {ROWS} over {OWNERS} owners in {time.perf_counter()-t0:.1f}s", flush=True)
        await conn.execute("SET session_replication_role = origin")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('media_uploads'))")
        heap = await conn.fetchval("SELECT pg_size_pretty(pg_relation_size('media_uploads'))")
        print(f"media_uploads: total {size}, heap {heap}", flush=True)
        step = next(s for s in steps if s.version == 26)
        for run in ("first", "again"):
            tr = conn.transaction(); await tr.start()
            t0 = time.perf_counter()
            await conn.execute(step.sql)
            dt = time.perf_counter() - t0
            await tr.rollback()
            print(f"{run}: step {step.version:04d} {step.name}: {dt*1000:.0f} ms", flush=True)
        await conn.close()
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)

asyncio.run(main())
