"""The test harness: real PostgreSQL and a real MongoDB-wire server, started once per session.

The embedded servers that run.py uses are started in a temporary directory, unless
TEST_DATABASE_URL / TEST_MONGODB_URL name servers to use instead. Every test gets fresh
services (so in-memory state such as rate limits starts empty) and starts from empty tables
and collections.
"""

from __future__ import annotations

import inspect
import os
import secrets
import shutil
import signal
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import AsyncIterator, Iterator

import httpx
import pytest

from nirvana.app import create_app
from nirvana.bootstrap import build_services
from nirvana.domain.accounts.ports import PasswordHasher
from nirvana.domain.clock import Clock
from nirvana.security import Argon2Hasher
from nirvana.wiring.stores import open_stores
from nirvana.serving import loop_factory
from nirvana.settings import Settings
from nirvana.storage.embedded import EmbeddedMongo, EmbeddedPostgres
from tests.support.pg_races import TEST_CLUSTER_SETTINGS
from tests.support.servers import TEST_ORIGIN
from tests.support.smtp import SmtpServer

SLOW_TEST_SECONDS = 360

@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector, name, obj):
    # Every `async def test_*` runs under anyio; marking the function before collection
    # (rather than the item after) lets it combine with @pytest.mark.parametrize.
    if name.startswith("test") and inspect.iscoroutinefunction(obj):
        pytest.mark.anyio(obj)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that starts run.py (marked slow) waits for cold starts of both databases, more
    # than one on a busy machine: it gets more time than the default before it counts as hung.
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TEST_SECONDS))


@pytest.fixture(scope="session")
def anyio_backend() -> tuple[str, dict[str, object]]:
    # Async tests, and the real servers they start in their own loop (tests/support/
    # servers.py), run on the event loop run.py serves on by default: CI tests what users
    # run. EVENT_LOOP=asyncio runs them all on the standard library's loop instead (and the
    # run.py subprocesses of tests/support/running.py, which read it as a user's would).
    name = Settings.from_env({"EVENT_LOOP": os.environ.get("EVENT_LOOP", "")}).event_loop
    return "asyncio", {"loop_factory": loop_factory(name)}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[tuple[EmbeddedPostgres | None, str]]:
    """The session's PostgreSQL: the embedded one with TEST_CLUSTER_SETTINGS applied, and its
    URL; or (None, TEST_DATABASE_URL) when that names a server to use instead."""
    database_url = os.environ.get("TEST_DATABASE_URL")
    if database_url:
        yield None, database_url
        return
    # A SIGTERM (a CI job's timeout, `timeout(1)`) ends the session like Ctrl-C, so the
    # teardown below still runs: PostgreSQL detaches from us (pg_ctl), and a run killed
    # without it left a cluster running per killed run.
    signal.signal(signal.SIGTERM, _interrupt)
    root = Path(tempfile.mkdtemp(prefix="nirvana-test-pg-"))
    postgres = EmbeddedPostgres(root / "postgres")
    try:
        database_url = postgres.start()
        postgres.configure(TEST_CLUSTER_SETTINGS)
        yield postgres, database_url
    finally:
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def server_urls(postgres_server) -> Iterator[tuple[str, str]]:
    # A session that uses TEST_DATABASE_URL still stops its MongoDB-wire server on SIGTERM.
    signal.signal(signal.SIGTERM, _interrupt)
    root = Path(tempfile.mkdtemp(prefix="nirvana-test-"))
    mongo = None
    try:
        mongodb_url = os.environ.get("TEST_MONGODB_URL")
        if not mongodb_url:
            mongo = EmbeddedMongo(root / "mongo", durable=False)
            mongodb_url = mongo.start()
        yield postgres_server[1], mongodb_url
    finally:
        if mongo is not None:
            mongo.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        mongodb_db=f"nirvana_test_{secrets.token_hex(4)}",
        allowed_origins=(TEST_ORIGIN, "http://localhost:8000"),
        public_url="http://testserver",
        # Tests sign many users up from one address; the limit has tests of its own.
        signups_per_ip_hour=100_000,
    )


@pytest.fixture(scope="session")
async def stores(server_urls, base_settings):
    database_url, mongodb_url = server_urls
    pool, mongo = await open_stores(
        base_settings, database_url=database_url, mongodb_url=mongodb_url
    )
    yield pool, mongo
    await pool.close()
    await mongo.close()


_EMPTYING: dict[int, str] = {}  # the session pool's id -> its emptying SQL


async def _emptying(pool) -> str:
    """The SQL that empties every table as `TRUNCATE ... RESTART IDENTITY CASCADE` would, for
    much less (docs/performance.md, "The test suite's time"): a truncate makes new files for
    every table and its indexes, a delete of their few rows does not.
    The tables are locked as a truncate locks them (a previous test's transaction still
    open is waited for), their triggers (the counters, the audit's refusal of deletes, the
    foreign keys) are off, and every sequence starts over. Setting the replication role
    takes a superuser (the embedded cluster's is): other servers are truncated.
    Built once per pool: the session's schema is migrated before the first test."""
    if (cached := _EMPTYING.get(id(pool))) is None:
        cached = _EMPTYING[id(pool)] = await _emptying_sql(pool)
    return cached


async def _emptying_sql(pool) -> str:
    tables = [f'"{t["tablename"]}"' for t in await pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename <> 'schema_migrations'")]
    if not tables:
        return ""
    names = ", ".join(tables)
    if not await pool.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        return f"TRUNCATE {names} RESTART IDENTITY CASCADE"
    return "".join([
        f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE;",
        "SET LOCAL session_replication_role = replica;",
        *(f"DELETE FROM {name};" for name in tables),
        "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
        "FROM pg_sequences WHERE schemaname = 'public';"])


async def _empty_stores(pool, mongo, settings: Settings) -> None:
    if emptying := await _emptying(pool):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(emptying)
    db = mongo[settings.mongodb_db]
    for name in await db.list_collection_names():
        await db[name].delete_many({})


@pytest.fixture
def settings(base_settings: Settings, tmp_path: Path) -> Settings:
    return replace(base_settings, data_dir=tmp_path)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server for the test; a module that mails overrides `settings` to send
    to it (smtp_url)."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def services_clock() -> Clock | None:
    """The clock the services read: None is the system's. A module whose checks depend on
    where the wall clock stands overrides this fixture with a FakeClock it moves."""
    return None


@pytest.fixture
def erasure_retry_waits() -> tuple[float, ...]:
    """Seconds between a failed account erasure's tries: one wait, longer than any test, so
    a background erasure that fails in a test is not tried again while it runs (its task is
    cancelled at its end). A test that wants the retry runs it itself (erase_pending) or
    builds its own AfterAccountDeletion with short waits."""
    return (3600.0,)


@pytest.fixture
def password_hasher() -> PasswordHasher | None:
    """The services' password hasher: argon2id still, at its cheapest parameters (8 KiB, one
    pass), as the tests' sign-ups and sign-ins are about accounts, not hashing cost. None is
    the app's own (production) hasher: a module about hashing itself (its parameters, the
    cost of an unknown user's sign-in) overrides this fixture to return None. Servers the
    tests start as run.py subprocesses always hash as production does.
    Unlike production, it takes any stronger hash for outdated: a test that plants an
    `Argon2Hasher()` hash (test_password_rule.py, held_checks.py's `reset`, seed.py's users)
    and signs in through these services takes the rehash branch, and the stored hash drops
    to these parameters."""
    return Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
async def services(stores, settings: Settings, services_clock: Clock | None,
                   erasure_retry_waits: tuple[float, ...],
                   password_hasher: PasswordHasher | None):
    pool, mongo = stores
    await _empty_stores(pool, mongo, settings)
    services = build_services(settings, pool, mongo, secret="t" * 48, clock=services_clock,
                              erasure_retry_waits=erasure_retry_waits, hasher=password_hasher)
    services.start_mail_sender()  # as open_services does: mail goes out through the outbox
    yield services
    await services.notifications.settled()  # a batch of likes belongs to this test's database
    for task in list(services.background):
        task.cancel()
    if services.presence_store is not None:  # its buffered writes belong to this test
        await services.presence_store.close()
    # Its writer and summary flusher too: a flush that lands after the next test has
    # emptied the stores would leave this test's checkpoint in that test's database.
    await services.chat_store.close()


@pytest.fixture
async def client(services, settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, services)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=TEST_ORIGIN) as client:
        yield client


