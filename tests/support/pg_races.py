"""Two sides of a race on the real PostgreSQL, one held uncommitted while the other runs."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine

WAIT = 10.0


async def waiting_on_locks(pool, task: asyncio.Task, count: int = 1) -> None:
    """Until `count` statements wait on a lock, `task`'s the last (or it ended without
    waiting)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not task.done() and loop.time() < deadline:
        if await pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE "
                               "datname = current_database() AND wait_event_type = 'Lock'"
                               ) >= count:
            return
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
        await waiting_on_locks(pool, task)
        await transaction.commit()
    return await asyncio.wait_for(task, WAIT)
