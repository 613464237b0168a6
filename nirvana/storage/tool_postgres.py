"""The PostgreSQL a command-line tool (`nirvana.seed`, `nirvana.admin`) works on: DATABASE_URL,
or the embedded cluster under DATA_DIR — started for the tool and stopped after it, or, when
run.py has it up, shared and left running. Likewise the chat store, for a tool that needs
both."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ..settings import Settings
from .datadir_lock import DataDirInUseError, DataDirLock
from .embedded import EmbeddedError, EmbeddedMongo, EmbeddedPostgres, running_mongo_url


@contextmanager
def _data_dir(settings: Settings, holder: str) -> Iterator[DataDirInUseError | None]:
    """None while the tool holds the data directory's lock; the refusal naming the holder
    when a running Nirvana holds it (whose stores the tool then shares, never stops)."""
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    in_use: DataDirInUseError | None = None
    try:
        lock = DataDirLock(data_dir, holder=holder).acquire()
    except DataDirInUseError as exc:
        in_use = exc
    if in_use is not None:
        # Yielded outside the except: errors of the block do not carry it as their context.
        yield in_use
        return
    try:
        yield None
    finally:
        lock.release()


@contextmanager
def _postgres(settings: Settings, in_use: DataDirInUseError | None) -> Iterator[str]:
    if settings.database_url is not None:
        yield settings.database_url
        return
    postgres = EmbeddedPostgres(settings.data_dir.resolve() / "postgres",
                                shared=in_use is not None)
    url = postgres.start()
    try:
        yield url
    finally:
        if in_use is None:
            postgres.stop()


@contextmanager
def tool_postgres(settings: Settings, holder: str) -> Iterator[str]:
    """The database URL, for the duration of the block. Raises EmbeddedError if the embedded
    cluster cannot start."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    with _data_dir(settings, holder) as in_use, _postgres(settings, in_use) as url:
        yield url


@contextmanager
def tool_stores(settings: Settings, holder: str, *, alone: bool = False
                ) -> Iterator[tuple[str, str]]:
    """The PostgreSQL and chat store URLs, for the duration of the block, as `tool_postgres`.
    An embedded store is used only under the data directory's lock, or shared with the
    running Nirvana that holds it: the tool never starts a chat store under one that is
    starting or stopping (its own start would stop the tool's, or the tool's its). With
    `alone`, raises EmbeddedError instead of sharing: a tool that must run with Nirvana
    stopped, which holding the lock keeps from starting meanwhile. (With both URLs set the
    data directory is not looked at: the tool checks the leases itself.)"""
    if settings.database_url is not None and settings.mongodb_url is not None:
        yield settings.database_url, settings.mongodb_url
        return
    with _data_dir(settings, holder) as in_use:
        if alone and in_use is not None:
            # Not "or set DATA_DIR": another directory holds other stores than the ones meant.
            advice = "wait for it to finish" if in_use.by_tool else "stop it first"
            raise EmbeddedError(f"{holder} runs only with every instance stopped, and "
                                f"{in_use.in_use}; {advice}")
        with _postgres(settings, in_use) as database_url:
            yield from _chat_store(settings, holder, in_use, database_url)


def _chat_store(settings: Settings, holder: str, in_use: DataDirInUseError | None,
                database_url: str) -> Iterator[tuple[str, str]]:
    if settings.mongodb_url is not None:
        yield database_url, settings.mongodb_url
        return
    data_dir = settings.data_dir.resolve()
    running = running_mongo_url(data_dir)
    if running is not None:
        yield database_url, running
        return
    if in_use is not None:
        raise EmbeddedError(f"{in_use} (its chat store is not up: it is starting or "
                            f"stopping, and {holder} must not start one under it)")
    mongo = EmbeddedMongo(data_dir / "mongo")
    url = mongo.start()
    try:
        yield database_url, url
    finally:
        mongo.stop()
