"""Waiting for an event with a deadline: a wait that times out fails naming what it waited
for, instead of spinning until the run's own timeout."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Callable

import pytest


async def wait_until(predicate: Callable[[], object], what: str, timeout: float = 10.0,
                     interval: float = 0.01) -> None:
    """Poll `predicate` (a function, or a coroutine function) until it is true; fail with
    "waited N s for <what>" at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    async def holds() -> object:
        result = predicate()
        return await result if inspect.isawaitable(result) else result

    while not await holds():
        if loop.time() > deadline:
            pytest.fail(f"waited {timeout:g} s for {what}", pytrace=False)
        await asyncio.sleep(interval)


def wait_until_blocking(predicate: Callable[[], object], what: str, timeout: float = 10.0,
                        interval: float = 0.01) -> None:
    """wait_until for tests without an event loop (subprocesses, /proc)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:g} s for {what}", pytrace=False)
        time.sleep(interval)
