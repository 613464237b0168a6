"""Small asyncio helpers shared by the long-lived background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Awaitable, Callable, Generic, Hashable, Sequence, TypeVar

log = logging.getLogger("nirvana")

T = TypeVar("T")


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


async def retry(work: Callable[[], Awaitable[object]], waits: Sequence[float], what: str
                ) -> bool:
    """Run `work`; after a failure, again after each of `waits` in turn, until it succeeds.
    False when the last try failed too. Each failure is logged; a cancel stops it at once,
    also one that the work turned into an error of its own."""
    for wait in (*waits, None):
        try:
            await work()
            return True
        except Exception:
            stop_if_cancelled()
            if wait is None:
                log.exception("%s failed, and %d retries did too", what, len(waits))
                return False
            log.warning("%s failed; trying again in %g s", what, wait, exc_info=True)
            await asyncio.sleep(wait)
    return False  # not reached: the last try returns above


class OnePerKey(Generic[T]):
    """Runs of work keyed by what it works on: a call while a run of its key is under way
    joins that run (its result or its error) rather than starting another. A run is
    cancelled once every caller waiting on it was; a run of its key started meanwhile waits
    until it has stopped (its last write may still be under way), so two never overlap."""

    def __init__(self) -> None:
        self._runs: dict[Hashable, tuple[asyncio.Task[T], list[int]]] = {}
        self._stopping: dict[Hashable, asyncio.Task[T]] = {}  # cancelled, not yet ended

    async def run(self, key: Hashable, work: Callable[[], Awaitable[T]]) -> T:
        found = self._runs.get(key)
        if found is None:
            task = asyncio.get_running_loop().create_task(
                _awaited(work, self._stopping.get(key)))
            found = self._runs[key] = (task, [0])
            task.add_done_callback(lambda done: self._ended(key, done))
        task, waiting = found
        waiting[0] += 1
        try:
            return await asyncio.shield(task)
        finally:
            waiting[0] -= 1
            if not waiting[0] and not task.done():
                task.cancel()
                if self._runs.get(key) is found:  # a call from now starts a run of its own
                    del self._runs[key]
                    self._stopping[key] = task

    def _ended(self, key: Hashable, task: asyncio.Task[T]) -> None:
        if self._runs.get(key, (None,))[0] is task:
            del self._runs[key]
        if self._stopping.get(key) is task:
            del self._stopping[key]
        if not task.cancelled():
            task.exception()  # its callers had it; retrieved for when none was left


async def _awaited(work: Callable[[], Awaitable[T]], after: asyncio.Task[T] | None) -> T:
    if after is not None:
        try:
            await asyncio.wait([after])
        except asyncio.CancelledError:
            # Ends only once the run it waits for has: a run started after this one
            # waits for this one alone, so it must not start while that one unwinds.
            while not after.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait([after])
            raise
    return await work()
