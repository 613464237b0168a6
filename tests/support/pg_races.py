"""Two sides of a race on the real PostgreSQL, one held uncommitted while the other runs;
the settings of the test session's cluster that decide how such races end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager

import asyncpg

WAIT = 10.0
# The test session's embedded cluster (tests/conftest.py) is a throwaway: durability buys
# nothing there and costs seconds. A test's emptying locks every table; an autovacuum of one
# yields to it after deadlock_timeout, 1 s by default.
TEST_CLUSTER_SETTINGS = {"fsync": "off", "synchronous_commit": "off",
                         "full_page_writes": "off", "deadlock_timeout": "100ms"}
# PostgreSQL checks a lock wait for a deadlock once, deadlock_timeout after it began, and the
# side that checks ends itself. The side a test means to be the victim checks after this: the
# other side's next statement must start waiting well within it, however loaded the machine
# and whatever the cluster's default (TEST_CLUSTER_SETTINGS).
VICTIM_DEADLOCK_TIMEOUT = "1s"

# The sessions waiting on a lock behind `$1`'s transaction, directly or behind one that waits
# on it: only the waits the held side causes, not those of anything else in the database.
_WAITING_BEHIND = """
    WITH RECURSIVE behind(pid) AS (
        SELECT $1::int
        UNION
        SELECT a.pid FROM pg_stat_activity a JOIN behind b ON b.pid = ANY(pg_blocking_pids(a.pid))
    )
    SELECT count(*) - 1 FROM behind"""


async def waiting_on_locks(pool, task: asyncio.Task, holder: int, count: int = 1) -> None:
    """Until `count` statements wait on a lock behind the session `holder` (a backend pid),
    `task`'s the last; returns early if `task` ended without waiting (its result says why),
    and fails if it is still running without waiting after WAIT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not task.done():
        if await pool.fetchval(_WAITING_BEHIND, holder) >= count:
            return
        if loop.time() > deadline:
            raise AssertionError(f"no {count} lock wait(s) behind {holder} within {WAIT} s")
        await asyncio.sleep(0.01)


async def behind_uncommitted(pool, statements: list[tuple], racing: Coroutine) -> object:
    """What `racing` returns when it starts while `statements` (one side of the race) are
    done but not committed: it must wait for their commit, then see them."""
    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        for statement in statements:
            await conn.execute(*statement)
        task = asyncio.create_task(racing)
        await waiting_on_locks(pool, task, conn.get_server_pid())
        await transaction.commit()
    return await asyncio.wait_for(task, WAIT)


@asynccontextmanager
async def deadlock_victims_pool(url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool whose sessions check a lock wait for a deadlock after VICTIM_DEADLOCK_TIMEOUT:
    the side of a race a test means PostgreSQL to end (the other side sets a longer one)."""
    pool = await asyncpg.create_pool(
        url, min_size=1, max_size=2,
        server_settings={"deadlock_timeout": VICTIM_DEADLOCK_TIMEOUT})
    try:
        yield pool
    finally:
        await pool.close()
