"""One home for "a transaction PostgreSQL ended as a deadlock's victim goes again, once"."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, TypeVar

import asyncpg

log = logging.getLogger("nirvana.storage")

T = TypeVar("T")

# The retry pauses this long before it goes again: the other transaction is only woken from
# its wait on the victim (it holds no place in a queue for the row they both want), so
# without it the retry can take that row first and close the cycle again.
DEADLOCK_PAUSE = 0.05  # seconds


async def once_more_if_deadlocked(work: Callable[[], Awaitable[T]], what: str) -> T:
    """`work()` (one whole transaction), and once more after DEADLOCK_PAUSE if PostgreSQL
    ended it to break a deadlock: the victim rolled back whole, so going again is safe. A
    second deadlock is raised: a cycle that closes twice is a lock order to fix."""
    try:
        return await work()
    except asyncpg.DeadlockDetectedError:
        log.warning("%s deadlocked; retrying once", what)
        await asyncio.sleep(DEADLOCK_PAUSE)
        return await work()
