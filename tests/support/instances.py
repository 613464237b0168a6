"""Several run.py processes on the same databases (and, with REDIS_URL, one Redis): the
multi-instance tests start them here."""

from __future__ import annotations

import asyncio
import secrets
import signal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.running import Running


@pytest.fixture
async def shared_databases(stores, server_urls):
    """A PostgreSQL database and a MongoDB database of their own, on the test servers."""
    pool, mongo = stores
    database_url, mongodb_url = server_urls
    name = f"instances_{secrets.token_hex(4)}"
    # Past the pool's store timeout: on a loaded machine creating and (with FORCE, ending the
    # instances' backends) dropping a database took longer than 5 s.
    await pool.execute(f'CREATE DATABASE "{name}"', timeout=60)
    env = {"DATABASE_URL": urlunsplit(urlsplit(database_url)._replace(path=f"/{name}")),
           "MONGODB_URL": mongodb_url, "MONGODB_DB": name}
    yield env
    await pool.execute(f'DROP DATABASE "{name}" WITH (FORCE)', timeout=60)
    await mongo.drop_database(name)


class Instances:
    """`n` instances on shared databases and one Redis, started one after the other (the
    first applies the schema), stopped by `stop_all` whatever state each is in."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.running: list[Running] = []

    async def start(self, n: int = 1, **extra: str) -> list[Running]:
        started = []
        for _ in range(n):
            data_dir = self.root / f"instance{len(self.running)}"
            run = await asyncio.to_thread(Running, data_dir, env={**self.env, **extra})
            self.running.append(run)
            started.append(run)
        return started

    async def stop_all(self) -> None:
        for run in self.running:
            if run.proc.poll() is None:
                if run.proc.returncode is None:
                    try:
                        run.proc.send_signal(signal.SIGCONT)  # a test may have paused it
                    except ProcessLookupError:
                        pass
                await asyncio.to_thread(run.stop, signal.SIGTERM)
            else:
                await asyncio.to_thread(run.proc.communicate)


@pytest.fixture
async def instances(tmp_path, shared_databases, redis_server):
    """Start instances with `await instances.start(n)`; all share one Redis and a
    JWT secret, so a token from one is accepted by the others."""
    env = {**shared_databases, "REDIS_URL": redis_server.url,
           "JWT_SECRET": secrets.token_urlsafe(32)}
    group = Instances(tmp_path, env)
    yield group
    await group.stop_all()
