"""A bound on how long a request waits for its handler, kept even when the handler cannot stop.

`asyncio.timeout` cancels the work and then waits for it to unwind, and unwinding can take as
long again: asyncpg returns a connection whose query was cancelled only once the server has
confirmed the cancel (shielded, for up to its command timeout), which a frozen server never
does. So a query that timed out after 5 s answered after 10 s. Here the caller gets its
answer at the deadline and the work finishes unwinding in the background.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, TypeVar

T = TypeVar("T")
log = logging.getLogger("nirvana.http")


class DeadlineError(TimeoutError):
    """The work did not finish within its deadline (answered like any store timeout: 503)."""


async def within(work: Awaitable[T], seconds: float) -> T:
    """The result of `work`, or DeadlineError after `seconds`, whatever `work` is waiting for."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait((task,), timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task.done():
        return task.result()
    task.cancel()
    task.add_done_callback(_settled)
    raise DeadlineError(f"no answer within {seconds:g} s")


def _settled(task: asyncio.Task) -> None:
    # Retrieved so asyncio does not log "exception was never retrieved" for work whose caller
    # has already been answered; what failed it was logged as the 503 at the deadline.
    if not task.cancelled() and task.exception() is not None:
        log.debug("abandoned work ended with %r", task.exception())
