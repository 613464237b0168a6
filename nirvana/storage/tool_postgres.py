"""The PostgreSQL a command-line tool (`nirvana.seed`, `nirvana.admin`) works on: DATABASE_URL,
or the embedded cluster under DATA_DIR — started for the tool and stopped after it, or, when
run.py has it up, shared and left running. Likewise the chat store, for a tool that needs
both."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ..settings import Settings
from .datadir_lock import DataDirInUseError, DataDirLock
from .embedded import EmbeddedMongo, EmbeddedPostgres, running_mongo_url


@contextmanager
def tool_postgres(settings: Settings, holder: str) -> Iterator[str]:
    """The database URL, for the duration of the block. Raises EmbeddedError if the embedded
    cluster cannot start."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = DataDirLock(data_dir, holder=holder).acquire()
    except DataDirInUseError:
        lock = None  # run.py has this cluster up: we share it and must leave it running
    postgres = EmbeddedPostgres(data_dir / "postgres", shared=lock is None)
    try:
        url = postgres.start()
        try:
            yield url
        finally:
            if lock is not None:
                postgres.stop()
    finally:
        if lock is not None:
            lock.release()


@contextmanager
def tool_stores(settings: Settings, holder: str) -> Iterator[tuple[str, str]]:
    """The PostgreSQL and chat store URLs, for the duration of the block, as `tool_postgres`
    (with the embedded PostgreSQL, the data directory's lock is held meanwhile, so run.py
    cannot start the embedded chat store under the tool)."""
    with tool_postgres(settings, holder) as database_url:
        if settings.mongodb_url is not None:
            yield database_url, settings.mongodb_url
            return
        data_dir = settings.data_dir.resolve()
        running = running_mongo_url(data_dir)
        if running is not None:
            yield database_url, running
            return
        mongo = EmbeddedMongo(data_dir / "mongo")
        url = mongo.start()
        try:
            yield database_url, url
        finally:
            mongo.stop()
