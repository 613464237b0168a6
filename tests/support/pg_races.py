"""Two sides of a race on the real PostgreSQL, one held uncommitted while the other runs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine

WAIT = 10.0

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
