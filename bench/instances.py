"""`python -m bench --only instances`: one Nirvana instance against two on this machine, on
the same stores and under the same chat load (issue 20, docs/performance.md "Several
instances on one machine").

The stores are started once, by the benchmark, as run.py starts its own: one embedded
PostgreSQL and one MongoDB-wire server (`--sync-on-commit`). Every instance is run.py with
DATABASE_URL/MONGODB_URL pointed at them and one JWT secret, so the users and rooms made once
serve both configurations. One instance runs as a single deployment does (no REDIS_URL); two
run with REDIS_URL on a redis-server started here, the first started being the chat writer
and the second forwarding its chat commands to it (docs/cluster-chat.md). The load is the
chat part's (bench/ws_load.py, rooms of 10, open-loop sends), with client i connected to
instance i mod n: with two, every room has members on both, so every send crosses Redis.

Pinning (bench/servers.py): the instances, both stores and Redis all run on SERVER_CORE, the
load generator on CLIENT_CORE. Both configurations get the same one core, so the ratios say
what a second instance costs and gains on one machine, not how two machines scale.
The configurations alternate (one, two, one, two …) so a drifting machine moves both alike.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from . import instances_report as report
from .context import Context
from .embedded import mongo_pid
from .instances_fanout import start_redis
from .nirvana_chat import http, sign_up
from .report import Row, median_steps, skipped_row
from .servers import SERVER_CORE, Nirvana, affinity, cpu_seconds, pinning_available, \
    tree_cpu_seconds
from .ws_clients import NirvanaAdapter, NirvanaConnection
from .ws_load import WARM_UP_SECONDS, Load

Result = tuple[dict[str, Any], list[Row]]
STEP_SECONDS = 5.0  # at most, whatever --duration says: the part runs in a few minutes
DRAIN_SECONDS = 3.0
MONGODB_DB = "bench_instances"


def redis_server_path() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    return "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None


class SharedStores:
    """One embedded PostgreSQL, one MongoDB-wire server and one redis-server, started on the
    servers' core (their children inherit it), for every instance of the part."""

    def __init__(self, root: Path) -> None:
        from nirvana.storage.embedded import EmbeddedMongo, EmbeddedPostgres

        self.root = root
        self.postgres = EmbeddedPostgres(root / "postgres")
        self.mongo = EmbeddedMongo(root / "mongo")  # durable, as run.py starts it
        self.redis: Any = None
        self.database_url = self.mongodb_url = self.redis_url = ""

    def start(self) -> None:
        core = SERVER_CORE if pinning_available() is None else None
        with affinity(core):
            self.database_url = self.postgres.start()
            self.mongodb_url = self.mongo.start()
            self.redis, self.redis_url = start_redis(self.root)

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each store (PostgreSQL with its live backends)."""
        pg = _postmaster_pid(self.root / "postgres")
        mongo = mongo_pid(self.root)
        return {"postgres": tree_cpu_seconds([pg]) if pg else 0.0,
                "mongo": cpu_seconds(mongo) if mongo else 0.0,
                "redis": cpu_seconds(self.redis.pid) if self.redis else 0.0}

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.kill()
            self.redis.wait()
        self.mongo.stop()
        self.postgres.stop()


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class SpreadAdapter:
    """The chat part's adapter over several instances: the same users, rooms and nonce,
    client i connected to instance i mod n."""

    def __init__(self, base: NirvanaAdapter, urls: list[str]) -> None:
        self.room_size = base.room_size
        self.adapters = []
        for url in urls:
            adapter = NirvanaAdapter(url, base.room_size, base.nonce)
            adapter.users, adapter.conversations = base.users, base.conversations
            adapter.frames, adapter.errors = base.frames, base.errors
            self.adapters.append(adapter)

    async def connect(self, client: int, deliver: Callable[[str], None]) -> NirvanaConnection:
        return await self.adapters[client % len(self.adapters)].connect(client, deliver)

    def recipients(self, sender: int) -> int:
        return self.room_size

    @property
    def retried(self) -> int:
        return sum(a.retried for a in self.adapters)


def start_instances(ctx: Context, stores: SharedStores, count: int, secret: str
                    ) -> list[Nirvana]:
    started: list[Nirvana] = []
    try:
        for n in range(count):
            server = Nirvana(ctx.options.work_dir / f"instance{n}", ctx.logs,
                             ctx.options.log_level)
            server.name = f"instance{n}-of-{count}"
            assert server.env is not None
            server.env.update({"DATABASE_URL": stores.database_url,
                               "MONGODB_URL": stores.mongodb_url, "MONGODB_DB": MONGODB_DB,
                               "JWT_SECRET": secret})
            if count > 1:
                server.env["REDIS_URL"] = stores.redis_url
            print(f"bench: starting {server.name}", flush=True)
            server.start()  # one after another: the first is the chat writer
            started.append(server)
    except BaseException:
        for server in started:
            server.stop()
        raise
    return started


async def one_pass(instances: list[Nirvana], stores: SharedStores, base: NirvanaAdapter,
                   clients: int, rates: list[float], seconds: float, first_step: int
                   ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The steps of one pass, and its discarded warm-up step."""
    adapter = SpreadAdapter(base, [s.url for s in instances])
    load = Load(adapter, clients)
    await load.connect()

    def cpu() -> dict[str, float]:
        readings = {f"instance{n}": s.cpu_seconds() for n, s in enumerate(instances)}
        return {**readings, **stores.cpu()}

    async def step(number: int, rate: float, duration: float) -> dict[str, Any]:
        before, errors, started = cpu(), dict(base.errors), time.monotonic()
        out = await load.step(number, rate, duration, drain=DRAIN_SECONDS)
        out.update(report.cpu_figures(before, cpu(), out["deliveries"],
                                      time.monotonic() - started))
        # Error frames in answer to sends (e.g. `unavailable`): those sends deliver nothing.
        out["errors"] = {k: n - errors.get(k, 0) for k, n in base.errors.items()
                         if n > errors.get(k, 0)}
        out["refused"] = sum(out["errors"].values())
        return out

    try:
        # Discarded: the first sends after a start fill caches and pools in every instance.
        warm_up = await step(first_step + 99, rates[0], WARM_UP_SECONDS)
        steps = [await step(first_step + i, rate, seconds) for i, rate in enumerate(rates)]
    finally:
        await load.close()
    return steps, warm_up


def measure(ctx: Context) -> Result:
    why_not = ("" if redis_server_path() else "redis-server is missing (Debian's redis-server "
               "package): two instances need REDIS_URL")
    if not why_not and pinning_available() is not None:
        ctx.notes.append(f"instances: {pinning_available()}")
    if why_not:
        print(f"bench: instances skipped: {why_not}", flush=True)
        return {"skipped": why_not}, [skipped_row("instances: one against two", why_not)]
    o = ctx.options
    rates, seconds = o.steps, min(o.duration, STEP_SECONDS)
    stores = SharedStores(o.work_dir / "instances-stores")
    secret = secrets.token_urlsafe(32)
    passes: dict[int, list[list[dict[str, Any]]]] = {1: [], 2: []}
    warm_ups: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    try:
        print("bench: starting the shared stores and redis-server", flush=True)
        stores.start()  # inside: what did start is stopped when the rest fails
        base: NirvanaAdapter | None = None
        clients = 0
        for repetition in range(o.repetitions):
            for count in (1, 2):
                instances = start_instances(ctx, stores, count, secret)
                try:
                    if base is None:  # users and rooms once, through the first instance
                        base = NirvanaAdapter(instances[0].url)
                        clients = o.clients - o.clients % base.room_size
                        asyncio.run(base.ensure_users(clients, sign_up))
                        asyncio.run(base.build_rooms(clients, http))
                    base.url = instances[0].url
                    asyncio.run(base.renew_tokens(300, http))
                    steps, warm_up = asyncio.run(one_pass(
                        instances, stores, base, clients, rates, seconds,
                        1000 * count + 100 * repetition))
                    passes[count].append(steps)
                    warm_ups[count].append(warm_up)
                finally:
                    for server in instances:
                        server.stop()
    finally:
        stores.stop()
    one, two = (median_steps(passes[n], rates, report.STEP_KEYS) for n in (1, 2))
    summary = report.compare(one, two)
    summary["one_limit"] = report.store_limit(one)
    summary["two_limit"] = report.store_limit(two)
    raw = {"clients": clients, "room_size": 10, "step_seconds": seconds,
           "drain_seconds": DRAIN_SECONDS, "pinning": _pinning(),
           "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
           "one": one, "two": two, "summary": summary, "warm_ups": warm_ups,
           "frames": dict(base.frames) if base else {},
           "errors": dict(base.errors) if base else {}}
    return raw, report.rows(one, two, summary)


def _pinning() -> str:
    why_not = pinning_available()
    if why_not is not None:
        return f"none: {why_not}"
    return (f"instances, PostgreSQL, MongoDB-wire server and redis-server on core "
            f"{SERVER_CORE}; load generator on the other")

