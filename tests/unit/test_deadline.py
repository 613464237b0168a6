"""within(): the caller is answered at the deadline even when the work is slow to unwind."""

from __future__ import annotations

import asyncio
import time

import pytest

from nirvana.http.deadline import DeadlineError, within


async def test_the_result_of_work_that_finishes_in_time():
    async def work() -> int:
        await asyncio.sleep(0)
        return 7

    assert await within(work(), 1.0) == 7


async def test_work_that_cannot_stop_at_once_is_left_to_unwind_after_the_answer():
    unwound = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            # Like asyncpg returning a connection: shielded cleanup that takes its time.
            await asyncio.shield(asyncio.sleep(0.5))
            unwound.set()

    start = time.monotonic()
    with pytest.raises(DeadlineError):
        await within(stubborn(), 0.1)
    assert time.monotonic() - start < 0.4
    await asyncio.wait_for(unwound.wait(), 2)


async def test_an_error_of_the_work_reaches_the_caller():
    async def failing() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        await within(failing(), 1.0)
