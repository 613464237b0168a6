"""Several run.py processes on the same databases (and, with REDIS_URL, one Redis): the
multi-instance tests start them here, with the HTTP and chat clients they talk to them with."""

from __future__ import annotations

import asyncio
import secrets
import signal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from tests.support.chat_client import Client
from tests.support.http import bearer
from tests.support.people import user
from tests.support.running import Running
from tests.support.tcp_proxy import CuttableProxy, proxied_postgres


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


def ws_url(run: Running) -> str:
    return run.url.replace("http://", "ws://") + "/ws"


async def befriend(asked_on: httpx.AsyncClient, a: dict, b: dict,
                   accepted_on: httpx.AsyncClient | None = None) -> None:
    """A asks, B accepts: over HTTP, as on separate machines (on another instance if given)."""
    r = await asked_on.post(f"/api/v1/friends/requests/{b['id']}", headers=bearer(a))
    assert r.status_code < 300, r.text
    r = await (accepted_on or asked_on).post(f"/api/v1/friends/requests/{a['id']}/accept",
                                             headers=bearer(b))
    assert r.status_code < 300, r.text


async def two_friends(on: httpx.AsyncClient, second_on: httpx.AsyncClient | None = None
                      ) -> tuple[dict, dict]:
    """Two new users, signed up (the second on another instance if given) and friends."""
    a, b = await user(on), await user(second_on or on)
    await befriend(on, a, b, accepted_on=second_on)
    return a, b


async def group_of(http: httpx.AsyncClient, owner: dict, *others: dict) -> str:
    """A group of `owner` with `others`, befriended first; its id."""
    for other in others:
        await befriend(http, owner, other)
    r = await http.post("/api/v1/conversations", headers=bearer(owner), json={
        "kind": "group", "name": "cluster", "member_ids": [o["id"] for o in others]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


class Instances:
    """`n` instances on shared databases and one Redis, started one after the other (the
    first applies the schema), stopped by `stop_all` whatever state each is in, with the
    HTTP and chat clients a test opened on them closed first."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.running: list[Running] = []
        self._http: list[httpx.AsyncClient] = []
        self._clients: list[Client] = []

    async def start(self, n: int = 1, **extra: str) -> list[Running]:
        started = []
        for _ in range(n):
            data_dir = self.root / f"instance{len(self.running)}"
            run = await asyncio.to_thread(Running, data_dir, env={**self.env, **extra})
            self.running.append(run)
            started.append(run)
        return started

    async def start_cuttable(self) -> tuple[Running, CuttableProxy]:
        """One more instance, whose link to PostgreSQL goes through a proxy a test can cut:
        from then on it hears of no sign-out or deletion (it reloads them from there) and
        cannot take the chat-writer lease, while its sockets and its forwarding over Redis
        go on. Stop it with `stop_cuttable`."""
        link, proxied = await proxied_postgres(self.env["DATABASE_URL"])
        # Errors only: while cut, its warnings (two tracebacks a second) would fill the pipe
        # that nobody reads before its stop, and logging would then block it.
        [run] = await self.start(1, DATABASE_URL=proxied, LOG_LEVEL="ERROR")
        return run, link

    async def stop_cuttable(self, run: Running, link: CuttableProxy) -> None:
        """Stopped with its link healed (its stop releases what it holds there), then the
        proxy closed."""
        link.heal()
        if run.proc.poll() is None:
            await asyncio.to_thread(run.stop, signal.SIGTERM)
        await link.close()

    def http(self, run: Running) -> httpx.AsyncClient:
        """An HTTP client on one instance."""
        client = httpx.AsyncClient(base_url=run.url)
        self._http.append(client)
        return client

    async def connect(self, run: Running, who: dict, since: int | None = None) -> Client:
        """A chat client of `who` on one instance (resuming after `since` if given)."""
        client = await Client.connect(ws_url(run), who, since=since)
        self._clients.append(client)
        return client

    async def stop_all(self) -> None:
        for run in self.running:
            if run.proc.returncode is None:
                try:
                    run.proc.send_signal(signal.SIGCONT)  # a test may have paused it
                except ProcessLookupError:
                    pass
        for client in self._clients:
            await client.close()
        for http in self._http:
            await http.aclose()
        for run in self.running:
            if run.proc.poll() is None:
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
