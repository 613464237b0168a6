"""Time schema steps 0024/0025 (idempotency key indexes) on a big blogs/comments table."""
import asyncio, sys, time, tempfile, shutil
from pathlib import Path
import asyncpg
from nirvana.storage.embedded import EmbeddedPostgres
from nirvana.storage.postgres.pool import parse_steps, SCHEMA_PATH

BLOGS = int(sys.argv[1]); COMMENTS = int(sys.argv[2])

async def fill(conn, table, n, over):
    cols = await conn.fetch(
        "SELECT column_name, data_type, udt_name FROM information_schema.columns "
        "WHERE table_name=$1 AND is_nullable='NO' AND column_default IS NULL AND is_identity='NO' AND is_generated='NEVER'", table)
    names, vals = [], []
    for c in cols:
        name, t = c["column_name"], c["udt_name"]
        names.append(name)
        if name == "author_id": vals.append("(g % 10000) + 1")
        elif name == "blog_id": vals.append(f"(g % {max(BLOGS,1)}) + 1")
        elif name == "body": vals.append("repeat('word ', 280)" if table == "blogs" else "repeat('word ', 30)")
        elif name == "slug": vals.append("'s-' || g")
        elif name == "title": vals.append("'Title ' || g")
        elif name == "status": vals.append("'published'")
        elif name == "audience": vals.append("'public'")
        elif t == "timestamptz": vals.append("now() - g * interval '1 second'")
        elif t in ("int4", "int8"): vals.append("0")
        elif t == "text": vals.append("''")
        elif t == "_text": vals.append("'{}'")
        elif t == "bool": vals.append("false")
        else: vals.append("DEFAULT")
    if table == "blogs":
        names.append("published_at"); vals.append("now() - g * interval '1 second'")
    print(table, list(zip(names, vals)), flush=True)
    t0 = time.perf_counter()
    await conn.execute(f"INSERT INTO {table} ({', '.join(names)}) SELECT {', '.join(vals)} "
                       f"FROM generate_series(1, {n}) g")
    await conn.execute(f"VACUUM ANALYZE {table}")
    print(f"filled {table} {n} in {time.perf_counter()-t0:.1f}s", flush=True)

async def main():
    root = Path(tempfile.mkdtemp(prefix="idem-build-", dir="/tmp"))
    pg = EmbeddedPostgres(root / "pg")
    url = pg.start()
    try:
        conn = await asyncpg.connect(url)
        steps = parse_steps(SCHEMA_PATH.read_text())
        for s in steps:
            if s.version < 24:
                await conn.execute(s.sql)
        await conn.execute("SET session_replication_role = replica")
        await fill(conn, "blogs", BLOGS, None)
        await fill(conn, "blog_comments", COMMENTS, None)
        await conn.execute("SET session_replication_role = origin")
        for t in ("blogs", "blog_comments"):
            size = await conn.fetchval(f"SELECT pg_size_pretty(pg_total_relation_size('{t}'))")
            heap = await conn.fetchval(f"SELECT pg_size_pretty(pg_relation_size('{t}'))")
            print(f"{t}: total {size}, heap {heap}", flush=True)
        for run in ("cold-ish", "again"):
            for s in steps:
                if s.version in (24, 25):
                    t0 = time.perf_counter()
                    tr = conn.transaction(); await tr.start()
                    await conn.execute(s.sql)
                    dt = time.perf_counter() - t0
                    await tr.rollback()
                    print(f"{run}: step {s.version:04d} {s.name}: {dt*1000:.0f} ms", flush=True)
        await conn.close()
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)

asyncio.run(main())
