"""What the 2026-12-07 key-index-build scripts share (docs/performance.md, "Building the
idempotency-key indexes" and "The uploads' idempotency key"): a throwaway embedded
PostgreSQL migrated up to the step under test, a table filled by one INSERT ... SELECT
from generate_series with foreign keys off, and steps timed in transactions rolled back.
Imported by those scripts as their sibling (run them as docs/performance.md says)."""
import shutil
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from nirvana.storage.embedded import EmbeddedPostgres
from nirvana.storage.postgres.pool import SCHEMA_PATH, Step, parse_steps


@asynccontextmanager
async def migrated_before(version: int):
    """A connection to a new cluster with every step before `version` applied, and the
    steps of schema.sql; the cluster is stopped and removed on leaving."""
    root = Path(tempfile.mkdtemp(prefix="idem-build-", dir="/tmp"))
    pg = EmbeddedPostgres(root / "pg")
    url = pg.start()
    try:
        conn = await asyncpg.connect(url)
        steps = parse_steps(SCHEMA_PATH.read_text())
        for s in steps:
            if s.version < version:
                await conn.execute(s.sql)
        yield conn, steps
        await conn.close()
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


async def fill(conn, table: str, columns: str, select: str, *args, what: str = "") -> None:
    """INSERT INTO table (columns) SELECT `select` (over generate_series ... g), foreign
    keys off (the rows' owners need not exist for the scan), then VACUUM ANALYZE."""
    await conn.execute("SET session_replication_role = replica")
    t0 = time.perf_counter()
    await conn.execute(f"INSERT INTO {table} ({columns}) SELECT {select}", *args)
    await conn.execute(f"VACUUM ANALYZE {table}")
    print(f"filled {table} {what} in {time.perf_counter() - t0:.1f}s", flush=True)
    await conn.execute("SET session_replication_role = origin")


async def print_sizes(conn, *tables: str) -> None:
    for t in tables:
        size = await conn.fetchval(f"SELECT pg_size_pretty(pg_total_relation_size('{t}'))")
        heap = await conn.fetchval(f"SELECT pg_size_pretty(pg_relation_size('{t}'))")
        print(f"{t}: total {size}, heap {heap}", flush=True)


async def time_steps(conn, steps: list[Step], versions: set[int], runs: tuple[str, ...]) -> None:
    """Each step of `versions` timed once per run, in a transaction rolled back."""
    for run in runs:
        for s in steps:
            if s.version in versions:
                t0 = time.perf_counter()  # BEGIN included, as the recorded figures were
                tr = conn.transaction()
                await tr.start()
                await conn.execute(s.sql)
                dt = time.perf_counter() - t0
                await tr.rollback()
                print(f"{run}: step {s.version:04d} {s.name}: {dt * 1000:.0f} ms", flush=True)
