"""Small asyncio helpers shared by the long-lived background tasks."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger("nirvana")


async def cancel_and_wait(task: asyncio.Task | None) -> None:
    """Cancel a background task and wait until it has stopped (its cancellation swallowed:
    the caller asked for it)."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def stop_if_cancelled() -> None:
    """Raise CancelledError if this task was asked to stop. A driver (pymongo, say) can turn
    a cancel that lands inside its operation into an error of its own; a loop that logs
    errors and goes on calls this after one, or a stop waits for its next round (or for
    ever)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError()


async def repeat(work: Callable[[], Awaitable[object]], every: float, what: str) -> None:
    """Run `work` now and then every `every` seconds until cancelled. A failure is logged and
    the next round tries again: housekeeping must outlive a store that is down for a while."""
    while True:
        try:
            await work()
        except Exception:
            log.exception("%s failed; retrying at the next interval", what)
            stop_if_cancelled()
        await asyncio.sleep(every)
